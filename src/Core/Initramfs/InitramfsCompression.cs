namespace KdumpSharp.Initramfs;

/// <summary>How <see cref="NewcArchiveWriter"/> compresses the archive.</summary>
public enum InitramfsCompression
{
    /// <summary>A plain cpio archive.</summary>
    None,

    /// <summary>One gzip member around the whole archive; every Debian kernel has CONFIG_RD_GZIP=y.</summary>
    Gzip,
}
