using System.Text;
using KdumpSharp.Compression;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Reads KdumpSharp's own format, KDS format version 1 (docs/format.md). A complete file opens from
/// its trailer and index without reading any page; a file without a usable trailer (the writer was
/// cut off, or the end is damaged) is recovered by walking its record headers, and reports
/// <see cref="DumpProperties.IsIncomplete"/> with the reason. Either way every page that was
/// completely written reads back; pages never written read as <see cref="PageState.Lost"/>, pages
/// in a chunk that fails its checksum as <see cref="PageState.Unreadable"/>, filtered pages as
/// <see cref="PageState.Excluded"/>.
/// Opening reads the header, the index (or the record headers) and the small metadata sections;
/// the saved dmesg and capture log are read when first asked for. Reading a page whose codec's
/// library is missing throws <see cref="CompressionUnavailableException"/>. Safe to use from
/// several threads.
/// </summary>
public sealed class NativeDumpReader : IDumpReader, ICaptureMetadata
{
    private readonly DumpSource _source;
    private readonly bool _leaveOpen;
    private readonly NativeFileHeader _header;
    private readonly NativePhysicalMemory _memory;
    private readonly List<SectionEntry> _sections;
    private readonly DumpLimits _limits;
    private readonly Lock _lazyLock = new();
    private ReadOnlyMemory<byte>? _dmesg;
    private string? _captureLog;
    private bool _dmesgRead, _captureLogRead;
    private int _disposed;

    private NativeDumpReader(DumpSource source, bool leaveOpen, DumpLimits limits, NativeFileHeader header, NativePhysicalMemory memory,
        List<SectionEntry> sections, DumpProperties properties, List<ElfNote> notes, CaptureIdentity identity,
        PageCounts? pageCounts, List<CaptureTiming> timings)
    {
        _source = source;
        _leaveOpen = leaveOpen;
        _limits = limits;
        _header = header;
        _memory = memory;
        _sections = sections;
        Properties = properties;
        Notes = notes;
        Vmcoreinfo = notes.Find(n => n.IsVmcoreinfo) is ElfNote note ? Vmcoreinfo.Parse(note.Descriptor.Span) : null;
        Identity = identity;
        PageCounts = pageCounts;
        Timings = timings;
    }

    public string Name => _source.Name;
    public DumpProperties Properties { get; }
    public IReadOnlyList<ElfNote> Notes { get; }
    public Vmcoreinfo? Vmcoreinfo { get; }
    public PhysicalMemory Memory => _memory;

    public CaptureIdentity Identity { get; }
    public PageCounts? PageCounts { get; }
    public IReadOnlyList<CaptureTiming> Timings { get; }

    /// <summary>Chunks the reader found (through the index, or by scanning).</summary>
    public long ChunkCount => _memory.ChunkCount;

    public ReadOnlyMemory<byte>? Dmesg
    {
        get
        {
            lock (_lazyLock)
            {
                if (!_dmesgRead)
                {
                    _dmesg = Concatenate(RecordType.DmesgSection, "the Dmesg section", firstOnly: true) is byte[] bytes ? bytes : null;
                    _dmesgRead = true;
                }
                return _dmesg;
            }
        }
    }

    public string? CaptureLog
    {
        get
        {
            lock (_lazyLock)
            {
                if (!_captureLogRead)
                {
                    _captureLog = Concatenate(RecordType.CaptureLogSection, "a CaptureLog section", firstOnly: false) is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null;
                    _captureLogRead = true;
                }
                return _captureLog;
            }
        }
    }

    /// <summary>True when the first bytes are those of a KdumpSharp dump ("\x89KDS"; a file cut shorter is not recognised).</summary>
    public static bool HasSignature(ReadOnlySpan<byte> firstBytes) =>
        firstBytes.Length >= NativeFormat.SniffLength && firstBytes[..NativeFormat.SniffLength].SequenceEqual(NativeFormat.Magic[..NativeFormat.SniffLength]);

    /// <summary>
    /// Opens a native dump. Throws <see cref="UnrecognizedDumpException"/> when the source does not
    /// start with the signature, and <see cref="DumpFormatException"/> when the header is damaged, from
    /// a newer incompatible version, or a metadata section breaks <paramref name="limits"/>. Unless
    /// <paramref name="leaveOpen"/>, the reader owns the source (also on failure) and disposes it.
    /// </summary>
    public static NativeDumpReader Open(DumpSource source, DumpLimits? limits = null, bool leaveOpen = false)
    {
        try
        {
            return OpenCore(source, limits ?? DumpLimits.Default, leaveOpen);
        }
        catch when (!leaveOpen)
        {
            source.Dispose();
            throw;
        }
    }

    private static NativeDumpReader OpenCore(DumpSource source, DumpLimits limits, bool leaveOpen)
    {
        string name = source.Name;
        Span<byte> magic = stackalloc byte[NativeFileHeader.MagicLength];
        int n = source.ReadAt(0, magic);
        if (!HasSignature(magic[..n]))
            DumpThrow.Unrecognized(name, "not a KdumpSharp dump (no \"\\x89KDS\" signature at offset 0)");
        if (n == NativeFileHeader.MagicLength && !magic.SequenceEqual(NativeFormat.Magic))
            DumpThrow.Corrupt(name, $"the KdumpSharp signature is damaged ({Convert.ToHexString(magic)}); was the file copied as text, rewriting line endings?", 0);
        if (!magic[..n].SequenceEqual(NativeFormat.Magic[..n]) || source.Length < NativeFileHeader.Size)
            return Empty(source, limits, leaveOpen, $"the file ends at 0x{source.Length:x}, inside the {NativeFileHeader.Size}-byte header: no page was written");

        var headerBytes = new byte[NativeFileHeader.Size];
        source.ReadExactly(0, headerBytes, "the header");
        var header = new NativeFileHeader(headerBytes);
        if (header.HeaderSize < NativeFileHeader.Size || header.HeaderSize > NativeFileHeader.MaxSize || header.HeaderSize % sizeof(uint) != 0)
            DumpThrow.Corrupt(name, $"header_size {header.HeaderSize} is not a multiple of 4 from {NativeFileHeader.Size} to {NativeFileHeader.MaxSize}", NativeFileHeader.HeaderSizeOffset);
        if (source.Length < header.HeaderSize)
            return Empty(source, limits, leaveOpen, $"the file ends at 0x{source.Length:x}, inside the {header.HeaderSize}-byte header: no page was written");
        if (header.HeaderSize > NativeFileHeader.Size)
        {
            headerBytes = new byte[header.HeaderSize];
            source.ReadExactly(0, headerBytes, "the header");
        }
        int crcAt = NativeFileHeader.CrcOffset((int)header.HeaderSize);
        if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(headerBytes.AsSpan(crcAt)) != Crc32C.Compute(headerBytes.AsSpan(0, crcAt)))
            DumpThrow.Corrupt(name, "the header fails its checksum", crcAt);
        if (header.Version != NativeFormat.Version)
            DumpThrow.Corrupt(name, $"KDS format version {header.Version}; this KdumpSharp reads version {NativeFormat.Version}", NativeFileHeader.VersionOffset);
        if ((header.IncompatFlags & ~(uint)IncompatFeatures.Known) != 0)
            DumpThrow.Corrupt(name, $"incompatible feature flags 0x{header.IncompatFlags & ~(uint)IncompatFeatures.Known:x} that this KdumpSharp does not know; a newer version wrote the file", NativeFileHeader.IncompatFlagsOffset);
        if (header.PageSize != NativeFormat.PageSize)
            DumpThrow.Corrupt(name, $"page_size is {header.PageSize}; only {NativeFormat.PageSize}-byte pages are supported", NativeFileHeader.PageSizeOffset);

        NativeLayout layout = NativeLayout.Load(source, header, limits);
        return Build(source, limits, leaveOpen, header, layout);
    }

    private static NativeDumpReader Empty(DumpSource source, DumpLimits limits, bool leaveOpen, string problem)
    {
        var header = new NativeFileHeader { DumpId = new byte[NativeFileHeader.DumpIdLength], PageSize = NativeFormat.PageSize };
        return Build(source, limits, leaveOpen, header, NativeLayout.Empty(source, problem));
    }

    /// <summary>Reads the metadata sections the layout found: the first sound one of each kind; a damaged one is a problem, not an error.</summary>
    private static NativeDumpReader Build(DumpSource source, DumpLimits limits, bool leaveOpen, NativeFileHeader header, NativeLayout layout)
    {
        string name = source.Name;
        var problems = new List<string>(layout.Problems);
        var sections = new SectionSet(source, header.DumpId, layout.Sections, problems);

        List<PhysicalRange>? ranges = null;
        if (sections.First(RecordType.RangesSection, (long)limits.MaxProgramHeaders * 16 + 8, out long at) is byte[] r)
            ranges = NativeSections.DecodeRanges(r, name, at + RecordHeader.Size, limits);
        List<ElfNote> notes = sections.First(RecordType.NotesSection, limits.MaxNotesBytes, out at) is byte[] blob
            ? ElfNote.ParseAll(blob, name, at + RecordHeader.Size, limits)
            : [];
        (int? dumpLevel, CaptureIdentity identity) = sections.First(RecordType.CaptureSection, limits.MaxNativeSectionBytes, out at) is byte[] c
            ? NativeSections.DecodeCapture(c, name, at + RecordHeader.Size)
            : (null, CaptureIdentity.Unknown);
        List<CaptureTiming> timings = sections.First(RecordType.TimingsSection, limits.MaxNativeSectionBytes, out at) is byte[] t
            ? NativeSections.DecodeTimings(t, name, at + RecordHeader.Size)
            : [];
        PageCounts? counts = sections.First(RecordType.PageCountsSection, limits.MaxNativeSectionBytes, out at) is byte[] p
            ? NativeSections.DecodePageCounts(p, name, at + RecordHeader.Size)
            : null;
        string? writerReason = sections.First(RecordType.IncompleteSection, limits.MaxNativeSectionBytes, out _) is byte[] why
            ? Encoding.UTF8.GetString(why)
            : layout.WriterIncomplete ? "the writer declared the dump incomplete" : null;
        if (writerReason is not null)
            problems.Insert(0, writerReason);

        // Without a Ranges section (damaged), the chunks themselves say which pages were RAM.
        ranges ??= RangesFromChunks(layout.Chunks);
        var memory = new NativePhysicalMemory(source, header.DumpId, layout.Chunks, ranges);
        var properties = new DumpProperties
        {
            Format = DumpFormat.Native,
            Compression = NativeFormat.Compression(header.Codec) is PageCompression kind ? PageCodec.DisplayName(kind) : $"codec {header.Codec}",
            DumpLevel = dumpLevel,
            Version = (int)header.Version,
            IsIncomplete = problems.Count > 0,
            IncompleteReason = problems.Count > 0 ? string.Join("; ", problems) : null,
        };
        return new NativeDumpReader(source, leaveOpen, limits, header, memory, layout.Sections, properties, notes, identity, counts, timings);
    }

    private static List<PhysicalRange> RangesFromChunks(ChunkIndex chunks)
    {
        var ranges = new List<PhysicalRange>();
        foreach (ChunkEntry e in chunks.All())
        {
            var range = new PhysicalRange(new PageFrameNumber(e.FirstPfn).Address, new PageFrameNumber(e.EndPfn).Address);
            if (ranges.Count > 0 && ranges[^1].End == range.Start)
                ranges[^1] = ranges[^1] with { End = range.End };
            else
                ranges.Add(range);
        }
        return ranges;
    }

    /// <summary>The payloads of every sound section of <paramref name="type"/> in file order (or the first), or null if there is none; a damaged one throws.</summary>
    private byte[]? Concatenate(RecordType type, string what, bool firstOnly)
    {
        byte[]? result = null;
        foreach (SectionEntry s in _sections)
        {
            if (s.Type != type)
                continue;
            if (s.PayloadLength > (ulong)_limits.MaxNativeSectionBytes || (result?.LongLength ?? 0) + (long)s.PayloadLength > _limits.MaxNativeSectionBytes)
                DumpThrow.Corrupt(Name, $"{what}: {s.PayloadLength} bytes, more than the limit of {_limits.MaxNativeSectionBytes}", s.Offset);
            byte[]? payload = NativeRecords.ReadPayload(_source, s.Offset, _header.DumpId, type, _limits.MaxNativeSectionBytes, out _);
            if (payload is null)
                DumpThrow.Corrupt(Name, $"{what} is damaged (it fails its checksum)", s.Offset);
            result = result is null ? payload : [.. result, .. payload];
            if (firstOnly)
                break;
        }
        return result;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _memory.Dispose();
        if (!_leaveOpen)
            _source.Dispose();
    }

    /// <summary>The sections of one file, read on request; a damaged one is noted in the problems and skipped.</summary>
    private sealed class SectionSet(DumpSource source, byte[] dumpId, List<SectionEntry> sections, List<string> problems)
    {
        /// <summary>The first section of <paramref name="type"/> that checks out, or null. One larger than
        /// <paramref name="cap"/> is an error, raised before anything is allocated.</summary>
        public byte[]? First(RecordType type, long cap, out long offset)
        {
            offset = 0;
            foreach (SectionEntry s in sections)
            {
                if (s.Type != type)
                    continue;
                if (s.PayloadLength > (ulong)cap)
                    DumpThrow.Corrupt(source.Name, $"the {NativeFormat.Describe(type)} is {s.PayloadLength} bytes, more than the limit of {cap}", s.Offset);
                if (NativeRecords.ReadPayload(source, s.Offset, dumpId, type, cap, out RecordHeader h) is byte[] payload && h.PayloadLength == s.PayloadLength)
                {
                    offset = s.Offset;
                    return payload;
                }
                problems.Add($"the {NativeFormat.Describe(type)} at 0x{s.Offset:x} is damaged (it fails its checksum)");
            }
            return null;
        }
    }
}
