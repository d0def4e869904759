using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// LZ4 raw blocks through liblz4.so.1 (LZ4_compress_fast_extState / LZ4_decompress_safe). Not a
/// kdump-compressed page flag; used by KdumpSharp's capture format. The compression state (16 KiB)
/// is allocated once, on the first compression, instead of on the stack of every call.
/// </summary>
internal sealed unsafe partial class Lz4PageCodec : PageCodec
{
    private const string Library = "liblz4.so.1";

    /// <summary>LZ4_compress_default's acceleration.</summary>
    public const int DefaultAcceleration = 1;

    private readonly int _acceleration;
    private void* _state;
    private bool _disposed;

    /// <param name="acceleration">LZ4's acceleration: 1 is LZ4_compress_default; each step up skips more
    /// match candidates, faster and a little bigger. Values below 1 mean 1 (lz4.c).</param>
    public Lz4PageCodec(int acceleration = DefaultAcceleration)
    {
        NativeCodecLibrary.Require(PageCompression.Lz4, Library, "liblz4-1");
        _acceleration = acceleration;
    }

    public override PageCompression Kind => PageCompression.Lz4;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        // LZ4 returns 0 when the output does not fit its capacity, so a capacity one byte short of the
        // source rejects output that is not smaller.
        int capacity = Math.Min(destination.Length, source.Length - 1);
        written = 0;
        if (capacity <= 0)
            return false;
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_state == null)
            _state = NativeMemory.AlignedAlloc((nuint)LZ4_sizeofState(), 8);
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            written = LZ4_compress_fast_extState(_state, src, dst, source.Length, capacity, _acceleration);
        return written > 0;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            result = LZ4_decompress_safe(src, dst, source.Length, destination.Length);
        return result == destination.Length;
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        NativeMemory.AlignedFree(_state);
        _state = null;
    }

    [LibraryImport(Library)]
    private static partial int LZ4_sizeofState();

    [LibraryImport(Library)]
    private static partial int LZ4_compress_fast_extState(void* state, byte* source, byte* destination, int sourceSize, int maxDestinationSize, int acceleration);

    [LibraryImport(Library)]
    private static partial int LZ4_decompress_safe(byte* source, byte* destination, int compressedSize, int maxDecompressedSize);
}
