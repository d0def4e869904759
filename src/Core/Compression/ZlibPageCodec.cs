using System.Buffers.Binary;
using System.IO.Compression;

namespace KdumpSharp.Compression;

/// <summary>
/// zlib-wrapped deflate (RFC 1950), as makedumpfile writes with compress2(level 1 = Z_BEST_SPEED)
/// and reads with uncompress(). <see cref="CompressionLevel.Fastest"/> is zlib level 1, and
/// <see cref="ZLibStream"/> writes and expects the same 2-byte header and Adler-32 trailer.
/// </summary>
internal sealed class ZlibPageCodec : PageCodec
{
    private const int HeaderSize = 2;
    private const int TrailerSize = 4;

    private readonly MemoryStream _compressed = new();
    private byte[] _input = [];
    private readonly byte[] _overrun = new byte[1];

    public override PageCompression Kind => PageCompression.Zlib;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        _compressed.SetLength(0);
        using (var zlib = new ZLibStream(_compressed, CompressionLevel.Fastest, leaveOpen: true))
            zlib.Write(source);
        written = (int)_compressed.Length;
        if (written >= source.Length || written > destination.Length)
        {
            written = 0;
            return false;
        }
        _compressed.GetBuffer().AsSpan(0, written).CopyTo(destination);
        return true;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.Length < HeaderSize + TrailerSize)
            return false;
        if (_input.Length < source.Length)
            _input = new byte[source.Length];
        source.CopyTo(_input);
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(_input, 0, source.Length, writable: false), CompressionMode.Decompress);
            if (zlib.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) != destination.Length)
                return false;
            if (zlib.Read(_overrun) != 0)
                return false;
        }
        catch (InvalidDataException)
        {
            return false;
        }
        // uncompress() fails on a stream cut before its Adler-32 trailer; ZLibStream stops quietly
        // at the end of its input, so the trailer is checked here.
        return BinaryPrimitives.ReadUInt32BigEndian(source[^TrailerSize..]) == Adler32(destination);
    }

    /// <summary>Adler-32 (RFC 1950 §8.2), summed in blocks of 5552 bytes so the 32-bit sums cannot overflow.</summary>
    internal static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Modulus = 65521;
        const int BlockSize = 5552;
        uint a = 1, b = 0;
        while (!data.IsEmpty)
        {
            int n = Math.Min(data.Length, BlockSize);
            foreach (byte x in data[..n])
            {
                a += x;
                b += a;
            }
            a %= Modulus;
            b %= Modulus;
            data = data[n..];
        }
        return (b << 16) | a;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _compressed.Dispose();
    }
}
