using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// LZ4 raw blocks through liblz4.so.1 (LZ4_compress_default / LZ4_decompress_safe). Not a
/// kdump-compressed page flag; used by KdumpSharp's capture format.
/// </summary>
internal sealed unsafe partial class Lz4PageCodec : PageCodec
{
    private const string Library = "liblz4.so.1";

    public Lz4PageCodec() => NativeCodecLibrary.Require(PageCompression.Lz4, Library, "liblz4-1");

    public override PageCompression Kind => PageCompression.Lz4;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        // LZ4_compress_default returns 0 when the output does not fit its capacity, so a capacity
        // one byte short of the source rejects output that is not smaller.
        int capacity = Math.Min(destination.Length, source.Length - 1);
        written = 0;
        if (capacity <= 0)
            return false;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            written = LZ4_compress_default(src, dst, source.Length, capacity);
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

    [LibraryImport(Library)]
    private static partial int LZ4_compress_default(byte* source, byte* destination, int sourceSize, int maxDestinationSize);

    [LibraryImport(Library)]
    private static partial int LZ4_decompress_safe(byte* source, byte* destination, int compressedSize, int maxDecompressedSize);
}
