namespace KdumpSharp.Dumps;

/// <summary>What a dump's container says about itself, independent of the kernel inside.</summary>
public sealed record DumpProperties
{
    public required DumpFormat Format { get; init; }

    /// <summary>For <see cref="DumpFormat.Flattened"/>, the format of the reassembled content.</summary>
    public DumpFormat? InnerFormat { get; init; }

    /// <summary>Page compression in use: "none", "zlib", "lzo", "snappy", "zstd", "lz4", or a combination.</summary>
    public string Compression { get; init; } = "none";

    /// <summary>makedumpfile dump level (bits: 1 zero, 2 cache, 4 private cache, 8 user, 16 free) when the file records it.</summary>
    public int? DumpLevel { get; init; }

    /// <summary>The writer said, or the file shows, that the dump was cut short.</summary>
    public bool IsIncomplete { get; init; }

    /// <summary>Container version (kdump-compressed header_version, native format version).</summary>
    public int? Version { get; init; }

    /// <summary>Why the dump is incomplete, when known.</summary>
    public string? IncompleteReason { get; init; }
}
