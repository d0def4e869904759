namespace KdumpSharp.Compression;

/// <summary>
/// How one page is compressed. makedumpfile's kdump-compressed format has page flags for zlib,
/// LZO, snappy and zstd only (diskdump_mod.h, DUMP_DH_COMPRESSED_*); LZ4 has no flag there and
/// serves KdumpSharp's own capture format.
/// </summary>
public enum PageCompression
{
    None,
    Zlib,
    Lzo,
    Snappy,
    Zstd,
    Lz4,
}
