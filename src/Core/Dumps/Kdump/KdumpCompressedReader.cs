using System.Text;
using KdumpSharp.Compression;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// Reads makedumpfile's kdump-compressed format ("KDUMP   ", header_version 0–6) and the older
/// "DISKDUMP" files it descends from (makedumpfile diskdump_mod.h and IMPLEMENTATION):
/// <code>
/// block 0                 disk_dump_header
/// block 1                 kdump_sub_header, then the ELF notes blob (sub_hdr_size blocks in all)
/// block 1 + sub_hdr_size  1st bitmap, then 2nd bitmap (bitmap_blocks blocks together)
/// then                    page_desc[number of set 2nd-bitmap bits], then page data
/// </code>
/// Opening reads the headers, notes and both bitmaps (2 bits per page, never the page data) and
/// validates every size and offset before using it. A file cut short still opens: pages whose
/// descriptor or data lie past the end read as <see cref="PageState.Lost"/>. Reading a page whose
/// codec's native library is missing throws <see cref="CompressionUnavailableException"/>. The
/// reader is safe to use from several threads.
/// </summary>
public sealed class KdumpCompressedReader : IDumpReader, IHasUtsName
{
    private const int BlockSize = PageFrameNumber.PageSize;

    private readonly DumpSource _source;
    private readonly bool _leaveOpen;
    private int _disposed;

    private KdumpCompressedReader(DumpSource source, bool leaveOpen, DumpProperties properties, List<ElfNote> notes,
        Vmcoreinfo? vmcoreinfo, UtsName utsName, ulong? physBase, KdumpPhysicalMemory memory)
    {
        _source = source;
        _leaveOpen = leaveOpen;
        Properties = properties;
        Notes = notes;
        Vmcoreinfo = vmcoreinfo;
        UtsName = utsName;
        PhysBase = physBase;
        Memory = memory;
    }

    public string Name => _source.Name;
    public DumpProperties Properties { get; }
    public IReadOnlyList<ElfNote> Notes { get; }
    public Vmcoreinfo? Vmcoreinfo { get; }
    public PhysicalMemory Memory { get; }

    /// <summary>The crashed kernel's utsname, copied into the header by makedumpfile (QEMU fills only the machine).</summary>
    public UtsName UtsName { get; }

    /// <summary>kdump_sub_header.phys_base (x86_64: where the kernel image was loaded); null for a DISKDUMP file.</summary>
    public ulong? PhysBase { get; }

    /// <summary>True when <paramref name="source"/> starts with the "KDUMP   " or "DISKDUMP" signature.</summary>
    public static bool HasSignature(DumpSource source)
    {
        Span<byte> signature = stackalloc byte[DiskDumpHeader.SignatureLength];
        if (source.ReadAt(0, signature) != signature.Length)
            return false;
        string text = Encoding.Latin1.GetString(signature);
        return text is DiskDumpHeader.KdumpSignature or DiskDumpHeader.DiskdumpSignature;
    }

    /// <summary>
    /// Opens a kdump-compressed file. Throws <see cref="UnrecognizedDumpException"/> when the source
    /// has neither signature, and <see cref="DumpFormatException"/> when a header field is impossible
    /// or exceeds <paramref name="limits"/>. Unless <paramref name="leaveOpen"/>, the reader owns the
    /// source (also on failure) and disposes it.
    /// </summary>
    public static KdumpCompressedReader Open(DumpSource source, DumpLimits limits, bool leaveOpen = false)
    {
        try
        {
            return OpenCore(source, limits, leaveOpen);
        }
        catch when (!leaveOpen)
        {
            source.Dispose();
            throw;
        }
    }

    private static KdumpCompressedReader OpenCore(DumpSource source, DumpLimits limits, bool leaveOpen)
    {
        string name = source.Name;
        if (!HasSignature(source))
            DumpThrow.Unrecognized(name, "not a kdump-compressed dump (no \"KDUMP   \" or \"DISKDUMP\" signature at offset 0)");

        Span<byte> headerBytes = stackalloc byte[DiskDumpHeader.Size];
        source.ReadExactly(0, headerBytes, "the disk_dump_header");
        var header = new DiskDumpHeader(headerBytes);

        if (header.IsKdump && (header.HeaderVersion < 0 || header.HeaderVersion > KdumpSubHeader.LatestVersion))
            DumpThrow.Corrupt(name, $"header_version {header.HeaderVersion} is not one this reader knows (0 to {KdumpSubHeader.LatestVersion})", DiskDumpHeader.HeaderVersionOffset);
        if (header.BlockSize != BlockSize)
            DumpThrow.Corrupt(name, $"block_size is {header.BlockSize}; only {BlockSize}-byte pages are supported", DiskDumpHeader.BlockSizeOffset);
        if (header.SubHeaderSize < (header.IsKdump ? 1 : 0))
            DumpThrow.Corrupt(name, $"sub_hdr_size {header.SubHeaderSize} leaves no room for the sub header", DiskDumpHeader.SubHeaderSizeOffset);

        long bitmapsOffset = (1L + header.SubHeaderSize) * BlockSize;
        long bitmapsLength = (long)header.BitmapBlocks * BlockSize;
        long descriptorsOffset = bitmapsOffset + bitmapsLength;
        if (descriptorsOffset > source.Length)
            DumpThrow.Corrupt(name, $"file is truncated: the headers and bitmaps need {descriptorsOffset} bytes (sub_hdr_size {header.SubHeaderSize}, bitmap_blocks {header.BitmapBlocks}), the file has {source.Length}");

        KdumpSubHeader sub = default;
        if (header.IsKdump)
        {
            Span<byte> subBytes = stackalloc byte[KdumpSubHeader.SizeForVersion(header.HeaderVersion)];
            source.ReadExactly(BlockSize, subBytes, "the kdump_sub_header");
            sub = new KdumpSubHeader(subBytes);
        }

        // header_version 6 moved max_mapnr to 64 bits in the sub header; the 32-bit copy is truncated.
        ulong frames = header.IsKdump && header.HeaderVersion >= 6 ? sub.MaxMapnr64 : header.MaxMapnr;
        if (frames > limits.MaxPageFrames)
            DumpThrow.Corrupt(name, $"max_mapnr 0x{frames:x} exceeds the limit of 0x{limits.MaxPageFrames:x} page frames",
                header.IsKdump && header.HeaderVersion >= 6 ? BlockSize + KdumpSubHeader.MaxMapnr64Offset : DiskDumpHeader.MaxMapnrOffset);

        // Both bitmaps are ceil(max_mapnr / 8) bytes rounded up to a block; the 2nd starts halfway
        // (makedumpfile and crash both use bitmap_len / 2). An old diskdump of all memory may carry a
        // single bitmap, which then serves as both (crash dump_is_partial).
        long bitmapNeeded = (long)((frames + 8UL * BlockSize - 1) / (8UL * BlockSize)) * BlockSize;
        long dumpableOffset = bitmapsLength >= 2 * bitmapNeeded ? bitmapsOffset + bitmapsLength / 2
            : header.IsDiskdump && bitmapsLength >= bitmapNeeded ? bitmapsOffset
            : -1;
        if (dumpableOffset < 0)
            DumpThrow.Corrupt(name, $"bitmap_blocks {header.BitmapBlocks} cannot hold two bitmaps of max_mapnr 0x{frames:x} pages", DiskDumpHeader.BitmapBlocksOffset);

        (ulong start, ulong end) = SplitRange(name, header, sub, frames);

        List<ElfNote> notes = [];
        Vmcoreinfo? vmcoreinfo = null;
        if (header.IsKdump)
        {
            if (header.HeaderVersion >= 4 && sub.OffsetNote != 0 && sub.SizeNote != 0)
            {
                byte[] blob = ReadSubHeaderArea(source, sub.OffsetNote, sub.SizeNote, bitmapsOffset, (ulong)limits.MaxNotesBytes, "ELF notes",
                    BlockSize + KdumpSubHeader.OffsetNoteOffset);
                notes = ElfNote.ParseAll(blob, name, sub.OffsetNote, limits);
            }
            if (header.HeaderVersion >= 3 && sub.OffsetVmcoreinfo != 0 && sub.SizeVmcoreinfo != 0)
                vmcoreinfo = Vmcoreinfo.Parse(ReadSubHeaderArea(source, sub.OffsetVmcoreinfo, sub.SizeVmcoreinfo, bitmapsOffset,
                    (ulong)limits.MaxVmcoreinfoBytes, "VMCOREINFO", BlockSize + KdumpSubHeader.OffsetVmcoreinfoOffset));
            else if (notes.Find(n => n.IsVmcoreinfo) is ElfNote note)
                vmcoreinfo = Vmcoreinfo.Parse(note.Descriptor.Span);
        }

        var bitmaps = KdumpBitmaps.Load(source, bitmapsOffset, dumpableOffset, frames);
        List<PhysicalRange> ranges = bitmaps.PresentRuns(start, end, limits.MaxProgramHeaders);
        long firstIndex = bitmaps.Rank(start);
        long descriptorCount = bitmaps.Rank(end) - firstIndex;
        var memory = new KdumpPhysicalMemory(source, bitmaps, ranges, start, end, firstIndex, descriptorsOffset, descriptorCount);

        string? incomplete = IncompleteReason(source, header, memory);
        var properties = new DumpProperties
        {
            Format = source is FlattenedSource ? DumpFormat.Flattened : DumpFormat.KdumpCompressed,
            InnerFormat = source is FlattenedSource ? DumpFormat.KdumpCompressed : null,
            Compression = CompressionName(header.Status),
            DumpLevel = header.IsKdump && header.HeaderVersion >= 1 ? sub.DumpLevel : null,
            Version = header.HeaderVersion,
            IsIncomplete = incomplete is not null,
            IncompleteReason = incomplete,
        };
        ulong? physBase = header.IsKdump ? sub.PhysBase : null;
        return new KdumpCompressedReader(source, leaveOpen, properties, notes, vmcoreinfo, header.UtsName, physBase, memory);
    }

    /// <summary>The pfns this file holds: all below max_mapnr, or one part of a --split set.</summary>
    private static (ulong Start, ulong End) SplitRange(string name, in DiskDumpHeader header, in KdumpSubHeader sub, ulong frames)
    {
        if (!header.IsKdump || header.HeaderVersion < 2 || sub.Split == 0)
            return (0, frames);
        (ulong start, ulong end) = header.HeaderVersion >= 6 ? (sub.StartPfn64, sub.EndPfn64) : (sub.StartPfn, sub.EndPfn);
        if (start > end || end > frames)
            DumpThrow.Corrupt(name, $"split file range [0x{start:x}, 0x{end:x}) is not inside max_mapnr 0x{frames:x}", BlockSize + KdumpSubHeader.SplitOffset);
        return (start, end);
    }

    /// <summary>Reads the notes or VMCOREINFO, which makedumpfile places after the sub header and before the bitmaps.</summary>
    private static byte[] ReadSubHeaderArea(DumpSource source, long offset, ulong size, long areaEnd, ulong cap, string what, long fieldOffset)
    {
        if (size > cap)
            DumpThrow.Corrupt(source.Name, $"{what}: {size} bytes, more than the limit of {cap}", fieldOffset);
        if (offset < BlockSize || offset > areaEnd || (ulong)(areaEnd - offset) < size)
            DumpThrow.Corrupt(source.Name, $"{what} at offset 0x{offset:x}, {size} bytes, lie outside the sub header blocks [0x{BlockSize:x}, 0x{areaEnd:x})", fieldOffset);
        var bytes = new byte[size];
        source.ReadExactly(offset, bytes, what);
        return bytes;
    }

    private static string CompressionName(DumpHeaderFlags status)
    {
        var names = new List<string>();
        if (status.HasFlag(DumpHeaderFlags.CompressedZlib))
            names.Add("zlib");
        if (status.HasFlag(DumpHeaderFlags.CompressedLzo))
            names.Add("lzo");
        if (status.HasFlag(DumpHeaderFlags.CompressedSnappy))
            names.Add("snappy");
        if (status.HasFlag(DumpHeaderFlags.CompressedZstd))
            names.Add("zstd");
        return names.Count == 0 ? "none" : string.Join("+", names);
    }

    private static string? IncompleteReason(DumpSource source, in DiskDumpHeader header, KdumpPhysicalMemory memory)
    {
        var reasons = new List<string>();
        if (header.IsKdump && header.Status.HasFlag(DumpHeaderFlags.Incomplete))
            reasons.Add("makedumpfile marked the dump incomplete (out of space, or the -L size limit)");
        if (source is FlattenedSource { IncompleteReason: string flat })
            reasons.Add(flat);
        if (memory.TruncationReason() is string truncated)
            reasons.Add(truncated);
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        ((KdumpPhysicalMemory)Memory).Dispose();
        if (!_leaveOpen)
            _source.Dispose();
    }
}
