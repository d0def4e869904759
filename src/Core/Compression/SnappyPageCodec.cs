using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// Snappy raw blocks through libsnappy.so.1's C API, as makedumpfile writes with snappy_compress
/// and reads with snappy_uncompressed_length + snappy_uncompress.
/// </summary>
internal sealed unsafe partial class SnappyPageCodec : PageCodec
{
    private const string Library = "libsnappy.so.1";
    private const int SnappyOk = 0;

    private byte[] _scratch = [];

    public SnappyPageCodec() => NativeCodecLibrary.Require(PageCompression.Snappy, Library, "libsnappy1v5");

    public override PageCompression Kind => PageCompression.Snappy;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        // snappy_compress refuses an output buffer smaller than snappy_max_compressed_length.
        int bound = (int)snappy_max_compressed_length((nuint)source.Length);
        if (_scratch.Length < bound)
            _scratch = new byte[bound];
        nuint outLength = (nuint)_scratch.Length;
        int status;
        fixed (byte* src = source)
        fixed (byte* dst = _scratch)
            status = snappy_compress(src, (nuint)source.Length, dst, &outLength);
        written = (int)outLength;
        if (status != SnappyOk || written >= source.Length || written > destination.Length)
        {
            written = 0;
            return false;
        }
        _scratch.AsSpan(0, written).CopyTo(destination);
        return true;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            // The block starts with its decoded length; anything but exactly one page is bad data,
            // and checking first means snappy_uncompress is never handed a buffer too small.
            nuint length;
            if (snappy_uncompressed_length(src, (nuint)source.Length, &length) != SnappyOk || length != (nuint)destination.Length)
                return false;
            return snappy_uncompress(src, (nuint)source.Length, dst, &length) == SnappyOk && length == (nuint)destination.Length;
        }
    }

    [LibraryImport(Library)]
    private static partial int snappy_compress(byte* input, nuint inputLength, byte* compressed, nuint* compressedLength);

    [LibraryImport(Library)]
    private static partial int snappy_uncompress(byte* compressed, nuint compressedLength, byte* uncompressed, nuint* uncompressedLength);

    [LibraryImport(Library)]
    private static partial int snappy_uncompressed_length(byte* compressed, nuint compressedLength, nuint* result);

    [LibraryImport(Library)]
    private static partial nuint snappy_max_compressed_length(nuint sourceLength);
}
