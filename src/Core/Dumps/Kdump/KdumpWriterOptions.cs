using KdumpSharp.Kernel;
using KdumpSharp.Compression;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>How <see cref="KdumpCompressedWriter"/> writes a dump.</summary>
public sealed record KdumpWriterOptions
{
    public static KdumpWriterOptions Default { get; } = new();

    /// <summary>Page compression: zlib (makedumpfile -c), lzo (-l), snappy (-p), zstd (-z) or none. The format has no LZ4 flag.</summary>
    public PageCompression Compression { get; init; } = PageCompression.Zlib;

    /// <summary>
    /// The dump level recorded in the sub header; null keeps the source's (0 if it has none). Pages the
    /// source excludes stay excluded whatever the level. Bit 1 (exclude zero pages) also makes every
    /// all-zero page share one descriptor and one page of data, as makedumpfile does.
    /// </summary>
    public int? DumpLevel { get; init; }

    /// <summary>The utsname for the header; null takes the source's, or builds what VMCOREINFO tells.</summary>
    public UtsName? UtsName { get; init; }
}

/// <summary>What <see cref="KdumpCompressedWriter.Write"/> wrote.</summary>
/// <param name="DumpedPages">Pages with a descriptor (set in the 2nd bitmap).</param>
/// <param name="ZeroPages">Of those, all-zero pages sharing the one zero descriptor.</param>
/// <param name="RawPages">Of those, pages stored uncompressed because compression did not make them smaller.</param>
/// <param name="LostPages">Of those, pages the source could not supply (lost or unreadable), written as offset-0 descriptors.</param>
/// <param name="Bytes">Length of the file.</param>
public sealed record KdumpWriteResult(long DumpedPages, long ZeroPages, long RawPages, long LostPages, long Bytes);
