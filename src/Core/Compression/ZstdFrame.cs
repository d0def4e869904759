using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// One whole zstd frame through libzstd.so.1's ZSTD_compress, with the content size in the frame
/// header. Used for a zstd initramfs, which the kernel unpacks with CONFIG_RD_ZSTD
/// (lib/decompress_unzstd.c accepts windows up to 128 MiB; the levels used here stay far below).
/// </summary>
internal static unsafe partial class ZstdFrame
{
    private const string Library = "libzstd.so.1";

    /// <exception cref="CompressionUnavailableException">libzstd.so.1 is not installed.</exception>
    public static byte[] Compress(ReadOnlySpan<byte> source, int level)
    {
        NativeCodecLibrary.Require(PageCompression.Zstd, Library, "libzstd1");
        byte[] destination = new byte[checked((int)ZSTD_compressBound((nuint)source.Length))];
        nuint written;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            written = ZSTD_compress(dst, (nuint)destination.Length, src, (nuint)source.Length, level);
        if (ZSTD_isError(written) != 0)
            throw new InvalidOperationException($"{Library}: ZSTD_compress failed with code {(long)written}");
        return destination.AsSpan(0, (int)written).ToArray();
    }

    [LibraryImport(Library)]
    private static partial nuint ZSTD_compressBound(nuint srcSize);

    [LibraryImport(Library)]
    private static partial nuint ZSTD_compress(byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int level);

    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);
}
