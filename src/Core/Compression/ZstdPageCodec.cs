using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// zstd through libzstd.so.1: one frame per page (or per chunk) at level 1 by default, as makedumpfile
/// writes with ZSTD_compressCCtx(level 1) and reads with ZSTD_decompress. Contexts are reused between pages.
/// </summary>
internal sealed unsafe partial class ZstdPageCodec : PageCodec
{
    private const string Library = "libzstd.so.1";
    /// <summary>makedumpfile's level (makedumpfile.c, compress_zstd).</summary>
    public const int DefaultLevel = 1;

    private readonly int _level;

    private readonly CompressionContext _compress;
    private readonly DecompressionContext _decompress;

    /// <param name="level">ZSTD_compressCCtx's level: 1 to 22, or negative for zstd's fast modes (bigger, faster);
    /// 0 is zstd's default (3).</param>
    public ZstdPageCodec(int level = DefaultLevel)
    {
        _level = level;
        NativeCodecLibrary.Require(PageCompression.Zstd, Library, "libzstd1");
        _compress = ZSTD_createCCtx();
        _decompress = ZSTD_createDCtx();
        if (_compress.IsInvalid || _decompress.IsInvalid)
            throw new OutOfMemoryException($"{Library}: cannot allocate a zstd context");
    }

    public override PageCompression Kind => PageCompression.Zstd;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        // A capacity one byte short of the page makes zstd itself refuse output that is not smaller.
        int capacity = Math.Min(destination.Length, source.Length - 1);
        written = 0;
        if (capacity <= 0)
            return false;
        nuint result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            result = ZSTD_compressCCtx(_compress, dst, (nuint)capacity, src, (nuint)source.Length, _level);
        if (ZSTD_isError(result) != 0)
            return false;
        written = (int)result;
        return true;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        nuint result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            result = ZSTD_decompressDCtx(_decompress, dst, (nuint)destination.Length, src, (nuint)source.Length);
        return ZSTD_isError(result) == 0 && result == (nuint)destination.Length;
    }

    protected override void Dispose(bool disposing)
    {
        _compress.Dispose();
        _decompress.Dispose();
    }

    /// <summary>A ZSTD_CCtx, freed with ZSTD_freeCCtx.</summary>
    private sealed class CompressionContext() : SafeHandle(IntPtr.Zero, ownsHandle: true)
    {
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() => ZSTD_isError(ZSTD_freeCCtx(handle)) == 0;
    }

    /// <summary>A ZSTD_DCtx, freed with ZSTD_freeDCtx.</summary>
    private sealed class DecompressionContext() : SafeHandle(IntPtr.Zero, ownsHandle: true)
    {
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() => ZSTD_isError(ZSTD_freeDCtx(handle)) == 0;
    }

    [LibraryImport(Library)]
    private static partial CompressionContext ZSTD_createCCtx();

    [LibraryImport(Library)]
    private static partial DecompressionContext ZSTD_createDCtx();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeCCtx(IntPtr context);

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeDCtx(IntPtr context);

    [LibraryImport(Library)]
    private static partial nuint ZSTD_compressCCtx(CompressionContext context, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int level);

    [LibraryImport(Library)]
    private static partial nuint ZSTD_decompressDCtx(DecompressionContext context, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);
}
