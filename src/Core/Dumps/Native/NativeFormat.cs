using KdumpSharp.Compression;

namespace KdumpSharp.Dumps.Native;

/// <summary>Constants of KDS format version 1 (docs/format.md).</summary>
internal static class NativeFormat
{
    public const uint Version = 1;
    public const int PageSize = 4096;

    /// <summary>Records start at multiples of this, so a resynchronising reader tries one offset in eight.</summary>
    public const int RecordAlignment = 8;

    /// <summary>Most present pages one chunk may hold (4 MiB of data).</summary>
    public const int MaxChunkPages = 1024;

    /// <summary>Most runs one chunk may list.</summary>
    public const int MaxChunkRuns = 65536;

    /// <summary>Most Copy pages one chunk may list (docs/format.md §4.1).</summary>
    public const int MaxChunkCopies = 1024;

    /// <summary>Most chunks one IndexBlock lists.</summary>
    public const int MaxIndexBlockChunks = 4096;

    /// <summary>"\x89KDS\r\n\x1a\n" (docs/format.md §2).</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'K', (byte)'D', (byte)'S', 0x0d, 0x0a, 0x1a, 0x0a];

    /// <summary>The part of <see cref="Magic"/> the sniffer needs to see.</summary>
    public const int SniffLength = 4;

    public static long Align(long offset) => (offset + RecordAlignment - 1) & ~(long)(RecordAlignment - 1);

    /// <summary>A record type as messages name it: "Notes section", "Chunk", "record type 0x7777".</summary>
    public static string Describe(RecordType type) => type switch
    {
        RecordType.Chunk or RecordType.IndexBlock or RecordType.Index or RecordType.Trailer => type.ToString(),
        _ when Enum.IsDefined(type) => type.ToString().Replace("Section", " section", StringComparison.Ordinal),
        _ => $"record type 0x{(ushort)type:x4}",
    };

    public static ushort CodecId(PageCompression compression) => compression switch
    {
        PageCompression.None => 0,
        PageCompression.Lz4 => 1,
        PageCompression.Zstd => 2,
        _ => throw new ArgumentException($"the KdumpSharp format stores chunks as lz4, zstd or none, not {PageCodec.DisplayName(compression)}", nameof(compression)),
    };

    public static PageCompression? Compression(ushort codec) => codec switch
    {
        0 => PageCompression.None,
        1 => PageCompression.Lz4,
        2 => PageCompression.Zstd,
        _ => null,
    };
}

/// <summary>Record types (docs/format.md §3.1).</summary>
internal enum RecordType : ushort
{
    Chunk = 0x0001,
    IndexBlock = 0x0002,
    Index = 0x0003,
    Trailer = 0x0004,
    RangesSection = 0x0010,
    NotesSection = 0x0011,
    CaptureSection = 0x0012,
    DmesgSection = 0x0013,
    CaptureLogSection = 0x0014,
    TimingsSection = 0x0015,
    PageCountsSection = 0x0016,
    IncompleteSection = 0x0017,
}

/// <summary>File header incompat_flags (docs/format.md §2): a reader refuses a file with a bit it does not know.</summary>
[Flags]
internal enum IncompatFeatures : uint
{
    None = 0,

    /// <summary>Chunks may hold Copy runs (page kind 4) and their copy tables.</summary>
    Copies = 1,

    Known = Copies,
}

/// <summary>Record header flags.</summary>
[Flags]
internal enum RecordFlags : ushort
{
    None = 0,

    /// <summary>A reader that does not know the record's type must refuse the file.</summary>
    Required = 1,
}

/// <summary>What a chunk run says about its pages (docs/format.md §4.1). 16 and above are exclusions.</summary>
internal enum PageKind : byte
{
    Present = 0,
    Zero = 1,
    NotCaptured = 2,
    ReadError = 3,

    /// <summary>The same bytes as an earlier Present page, named in the chunk's copy table.</summary>
    Copy = 4,
    FirstReserved = 5,
    ExcludedOther = 16,
    ExcludedCache = 17,
    ExcludedPrivateCache = 18,
    ExcludedUser = 19,
    ExcludedFree = 20,
    ExcludedHwPoison = 21,
    ExcludedOffline = 22,
}

internal static class PageKinds
{
    public static bool IsExcluded(PageKind kind) => kind >= PageKind.ExcludedOther;

    public static bool IsValid(PageKind kind) => kind < PageKind.FirstReserved || IsExcluded(kind);

    public static PageKind Of(ExclusionReason reason) => reason switch
    {
        ExclusionReason.Cache => PageKind.ExcludedCache,
        ExclusionReason.PrivateCache => PageKind.ExcludedPrivateCache,
        ExclusionReason.User => PageKind.ExcludedUser,
        ExclusionReason.Free => PageKind.ExcludedFree,
        ExclusionReason.HwPoison => PageKind.ExcludedHwPoison,
        ExclusionReason.Offline => PageKind.ExcludedOffline,
        _ => PageKind.ExcludedOther,
    };

    public static ExclusionReason ReasonOf(PageKind kind) => kind switch
    {
        PageKind.ExcludedCache => ExclusionReason.Cache,
        PageKind.ExcludedPrivateCache => ExclusionReason.PrivateCache,
        PageKind.ExcludedUser => ExclusionReason.User,
        PageKind.ExcludedFree => ExclusionReason.Free,
        PageKind.ExcludedHwPoison => ExclusionReason.HwPoison,
        PageKind.ExcludedOffline => ExclusionReason.Offline,
        _ => ExclusionReason.Other,
    };
}
