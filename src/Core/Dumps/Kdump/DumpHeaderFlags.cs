namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// makedumpfile diskdump_mod.h DUMP_DH_* bits. The header's <c>status</c> uses all of them; a
/// <c>page_desc.flags</c> uses only the compression bits, and 0 there means a raw page.
/// </summary>
[Flags]
internal enum DumpHeaderFlags : uint
{
    None = 0,
    CompressedZlib = 0x1,
    CompressedLzo = 0x2,
    CompressedSnappy = 0x4,
    Incomplete = 0x8,
    ExcludedVmemmap = 0x10,
    CompressedZstd = 0x20,

    CompressionMask = CompressedZlib | CompressedLzo | CompressedSnappy | CompressedZstd,
}
