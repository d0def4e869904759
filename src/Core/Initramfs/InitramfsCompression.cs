namespace KdumpSharp.Initramfs;

/// <summary>How <see cref="NewcArchiveWriter"/> compresses the archive.</summary>
public enum InitramfsCompression
{
    /// <summary>A plain cpio archive.</summary>
    None,

    /// <summary>One gzip member around the whole archive; every Debian kernel has CONFIG_RD_GZIP=y.</summary>
    Gzip,

    /// <summary>
    /// One zstd frame around the whole archive (CONFIG_RD_ZSTD, in Debian's kernels since 5.10):
    /// smaller than gzip and faster to unpack. Needs libzstd.so.1 on the building host.
    /// </summary>
    Zstd,
}
