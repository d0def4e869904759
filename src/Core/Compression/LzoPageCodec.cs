using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// LZO1X-1 through liblzo2.so.2, as makedumpfile writes with lzo1x_1_compress and reads with
/// lzo1x_decompress_safe. Raw LZO1X blocks, no framing.
/// </summary>
internal sealed unsafe partial class LzoPageCodec : PageCodec
{
    private const string Library = "liblzo2.so.2";
    private const int LzoOk = 0;

    // lzo1x.h: LZO1X_1_MEM_COMPRESS = 16384 * sizeof(lzo_bytep).
    private const int WorkMemorySize = 16384 * 8;

    private static readonly Lazy<int> InitResult = new(Initialize);

    private readonly byte[] _workMemory = new byte[WorkMemorySize];
    private byte[] _scratch = [];

    public LzoPageCodec()
    {
        NativeCodecLibrary.Require(PageCompression.Lzo, Library, "liblzo2-2");
        if (InitResult.Value != LzoOk)
            throw new InvalidOperationException($"{Library}: lzo_init failed with {InitResult.Value} (library built for another ABI)");
    }

    public override PageCompression Kind => PageCompression.Lzo;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        // lzo1x_1_compress takes no output capacity. LZO's examples (simple.c) and makedumpfile's
        // calculate_len_buf_out size the output for the worst case, len + len/16 + 64 + 3.
        int bound = source.Length + source.Length / 16 + 64 + 3;
        if (_scratch.Length < bound)
            _scratch = new byte[bound];
        nuint outLength = 0;
        int result;
        fixed (byte* src = source)
        fixed (byte* dst = _scratch)
        fixed (byte* work = _workMemory)
            result = lzo1x_1_compress(src, (nuint)source.Length, dst, &outLength, work);
        written = (int)outLength;
        if (result != LzoOk || written >= source.Length || written > destination.Length)
        {
            written = 0;
            return false;
        }
        _scratch.AsSpan(0, written).CopyTo(destination);
        return true;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        nuint outLength = (nuint)destination.Length;
        int result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
            result = lzo1x_decompress_safe(src, (nuint)source.Length, dst, &outLength, null);
        return result == LzoOk && outLength == (nuint)destination.Length;
    }

    // lzo_init() expands to __lzo_init_v2(LZO_VERSION, sizeof short, int, long, lzo_uint32_t, lzo_uint,
    // lzo_sizeof_dict_t, char *, lzo_voidp, lzo_callback_t); values for LP64 Linux, checked with gcc.
    private static int Initialize() => __lzo_init_v2(0x20a0, 2, 4, 8, 4, 8, 8, 8, 8, 48);

    [LibraryImport(Library)]
    private static partial int __lzo_init_v2(uint version, int s1, int s2, int s3, int s4, int s5, int s6, int s7, int s8, int s9);

    [LibraryImport(Library)]
    private static partial int lzo1x_1_compress(byte* src, nuint srcLength, byte* dst, nuint* dstLength, byte* workMemory);

    [LibraryImport(Library)]
    private static partial int lzo1x_decompress_safe(byte* src, nuint srcLength, byte* dst, nuint* dstLength, byte* workMemory);
}
