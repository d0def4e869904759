using KdumpSharp.Compression;

namespace KdumpSharp.Dumps.Native;

/// <summary>How <see cref="NativeDumpWriter"/> writes a dump.</summary>
public sealed record NativeDumpWriterOptions
{
    public static NativeDumpWriterOptions Default { get; } = new();

    /// <summary>Chunk compression: <see cref="PageCompression.Lz4"/> (default), <see cref="PageCompression.Zstd"/> or
    /// <see cref="PageCompression.None"/>. A chunk that does not shrink is stored raw whatever this says.</summary>
    public PageCompression Compression { get; init; } = PageCompression.Lz4;

    /// <summary>The codec's speed/size knob: zstd's level, LZ4's acceleration (see <see cref="PageCodec.Create"/>).
    /// Null takes <see cref="DefaultLevel"/>. Readers do not need it.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>The level a chunk codec runs at unless told otherwise (docs/format.md §4.3 has the measurements behind it).</summary>
    public static int? DefaultLevel(PageCompression compression) => compression switch
    {
        PageCompression.Zstd => DefaultZstdLevel,
        PageCompression.Lz4 => DefaultLz4Acceleration,
        _ => null,
    };

    public const int DefaultZstdLevel = 1;

    public const int DefaultLz4Acceleration = 1;

    /// <summary>
    /// The bulk level unless told otherwise: LZ4 at acceleration <see cref="DefaultLz4BulkAcceleration"/>, other codecs
    /// as for kernel pages. Bulk memory is most of a dump that keeps it and is the slow part to compress
    /// (docs/format.md §4.4 has the measurements behind it).
    /// </summary>
    public static int? DefaultBulkLevel(PageCompression compression) => compression switch
    {
        PageCompression.Lz4 => DefaultLz4BulkAcceleration,
        _ => DefaultLevel(compression),
    };

    public const int DefaultLz4BulkAcceleration = 32;

    /// <summary>The level kernel-page chunks are compressed at.</summary>
    internal int? KernelLevel => CompressionLevel ?? DefaultLevel(Compression);

    /// <summary>
    /// The level for chunks whose stored pages are mostly bulk memory (user, page cache, free: the pages a
    /// dump level can drop, which the caller marks when it adds them): <see cref="CompressionLevel"/> when
    /// that is set, else <see cref="DefaultBulkLevel"/>.
    /// </summary>
    internal int? BulkLevel => CompressionLevel ?? DefaultBulkLevel(Compression);

    /// <summary>Most present pages per chunk, compressed as one block (1 to 1024; 16 = 64 KiB, see docs/format.md §4.3).</summary>
    public int ChunkPages { get; init; } = NativeDumpWriter.DefaultChunkPages;

    /// <summary>Threads compressing chunks. 1 compresses on the caller's thread and starts no thread.</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Whether <see cref="NativeDumpWriter.AddCopy"/> may be used. The header then carries the Copies
    /// feature flag, which readers older than copies refuse (docs/format.md §2), so it is set only by writers
    /// that look for identical pages.</summary>
    public bool AllowCopies { get; init; }

    /// <summary>The makedumpfile dump level the capture filtered with, recorded in the Capture section; null for unknown.</summary>
    public int? DumpLevel { get; init; }

    /// <summary>Hosts, tool and kernels, recorded in the Capture section.</summary>
    public CaptureIdentity Identity { get; init; } = CaptureIdentity.Unknown;
}

/// <summary>What a <see cref="NativeDumpWriter"/> wrote.</summary>
/// <param name="Pages">Pages by kind, as the PageCounts section records them.</param>
/// <param name="Chunks">Chunk records written.</param>
/// <param name="Bytes">Bytes written to the stream, trailer included.</param>
/// <param name="IncompleteReason">Why the writer marked the dump incomplete, or null.</param>
public sealed record NativeWriteResult(PageCounts Pages, long Chunks, long Bytes, string? IncompleteReason);
