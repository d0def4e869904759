using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Compression;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// Writes makedumpfile's kdump-compressed format (header_version 6, as write_kdump_header and
/// write_kdump_pages_and_bitmap_cyclic lay it out) from any dump.
/// <list type="bullet">
/// <item>1st bitmap: every page the source's <see cref="PhysicalMemory.Ranges"/> touch. 2nd bitmap: the
/// pages of those that are present, plus those the source lost or cannot decode.</item>
/// <item>A lost or unreadable page keeps its 2nd-bitmap bit with a descriptor of offset 0, which is how
/// makedumpfile marks pages it could not write, and the header gets DUMP_DH_COMPRESSED_INCOMPLETE;
/// readers then report the page lost rather than excluded by a dump level.</item>
/// <item>The notes blob is every source note re-serialised in order; offset_vmcoreinfo points at the
/// VMCOREINFO descriptor inside it.</item>
/// </list>
/// Memory is the two bitmaps (2 bits per page: 64 MiB per TiB of RAM) and fixed buffers: pages stream
/// through one at a time. The output must be seekable: descriptors and data are written in two
/// interleaved regions, and the header is rewritten last.
/// </summary>
public static class KdumpCompressedWriter
{
    private const int BlockSize = PageFrameNumber.PageSize;
    private const int HeaderVersion = 6;
    private const int DescriptorBufferEntries = 4096;
    private const int DataBufferBytes = 1 << 20;
    private const int CancellationInterval = 4096;

    public static KdumpWriteResult Write(IDumpReader source, Stream output, KdumpWriterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= KdumpWriterOptions.Default;
        if (!output.CanSeek || !output.CanWrite)
            throw new ArgumentException("the kdump-compressed format needs a seekable, writable stream (descriptors and data are written in two regions)", nameof(output));
        DumpHeaderFlags compressionFlag = options.Compression switch
        {
            PageCompression.None => DumpHeaderFlags.None,
            PageCompression.Zlib => DumpHeaderFlags.CompressedZlib,
            PageCompression.Lzo => DumpHeaderFlags.CompressedLzo,
            PageCompression.Snappy => DumpHeaderFlags.CompressedSnappy,
            PageCompression.Zstd => DumpHeaderFlags.CompressedZstd,
            _ => throw new ArgumentException($"the kdump-compressed format has no page flag for {PageCodec.DisplayName(options.Compression)}", nameof(options)),
        };
        using PageCodec codec = PageCodec.Create(options.Compression);

        PhysicalMemory memory = source.Memory;
        ulong frames = memory.EndFrame.Value;
        long bitmapBytes = (long)((frames + 8UL * BlockSize - 1) / (8UL * BlockSize)) * BlockSize;
        if (bitmapBytes > Array.MaxLength)
            throw new NotSupportedException($"{source.Name}: 0x{frames:x} page frames need bitmaps larger than one array");
        var present = new byte[bitmapBytes];
        var dumpable = new byte[bitmapBytes];
        long dumpableCount = MarkPages(memory, present, dumpable, cancellationToken);

        (byte[] notes, long vmcoreinfoInNotes, int vmcoreinfoSize) = BuildNotes(source);
        int subHeaderBlocks = (int)((KdumpSubHeader.Size + notes.LongLength + BlockSize - 1) / BlockSize);
        long bitmapsOffset = (1L + subHeaderBlocks) * BlockSize;
        long descriptorsOffset = bitmapsOffset + 2 * bitmapBytes;
        long dataOffset = descriptorsOffset + dumpableCount * PageDescriptor.Length;
        long notesOffset = BlockSize + KdumpSubHeader.Size;
        int dumpLevel = options.DumpLevel ?? source.Properties.DumpLevel ?? 0;
        ulong? physBase = (ulong?)source.Vmcoreinfo?.Number("phys_base") ?? (source as KdumpCompressedReader)?.PhysBase;

        var header = new DiskDumpHeader
        {
            Signature = DiskDumpHeader.KdumpSignature,
            HeaderVersion = HeaderVersion,
            UtsName = options.UtsName ?? UtsNameOf(source, physBase),
            TimestampSeconds = source.Vmcoreinfo?.CrashTime ?? 0,
            Status = compressionFlag,
            BlockSize = BlockSize,
            SubHeaderSize = subHeaderBlocks,
            BitmapBlocks = (uint)(2 * bitmapBytes / BlockSize),
            MaxMapnr = (uint)Math.Min(frames, uint.MaxValue),
            NrCpus = source.Notes.Count(n => n.IsPrStatus),
        };
        var sub = new KdumpSubHeader
        {
            PhysBase = physBase ?? 0,
            DumpLevel = dumpLevel,
            OffsetVmcoreinfo = vmcoreinfoSize == 0 ? 0 : notesOffset + vmcoreinfoInNotes,
            SizeVmcoreinfo = (ulong)vmcoreinfoSize,
            OffsetNote = notes.Length == 0 ? 0 : notesOffset,
            SizeNote = (ulong)notes.Length,
            MaxMapnr64 = frames,
        };

        long start = output.Position;
        var block = new byte[BlockSize];
        header.Write(block);
        WriteAt(output, start, block.AsSpan(0, DiskDumpHeader.Size));
        sub.Write(block);
        WriteAt(output, start + BlockSize, block.AsSpan(0, KdumpSubHeader.Size));
        WriteAt(output, start + notesOffset, notes);
        WriteAt(output, start + bitmapsOffset, present);
        WriteAt(output, start + bitmapsOffset + bitmapBytes, dumpable);

        var pages = new PageWriter(output, start, descriptorsOffset, dataOffset, codec, compressionFlag, (dumpLevel & 1) != 0);
        pages.WritePages(memory, dumpable, frames, cancellationToken);

        if (pages.LostPages > 0)
        {
            header = header with { Status = header.Status | DumpHeaderFlags.Incomplete };
            header.Write(block);
            WriteAt(output, start, block.AsSpan(0, DiskDumpHeader.Size));
        }
        long end = pages.End;
        output.Position = start + end;
        output.Flush();
        return new KdumpWriteResult(dumpableCount, pages.ZeroPages, pages.RawPages, pages.LostPages, end);
    }

    /// <summary>Sets the 1st-bitmap bit of every page a range touches, and the 2nd-bitmap bit of those
    /// the source has or should have had; returns how many 2nd-bitmap bits are set.</summary>
    private static long MarkPages(PhysicalMemory memory, byte[] present, byte[] dumpable, CancellationToken cancellationToken)
    {
        long count = 0;
        foreach (PhysicalRange range in memory.Ranges)
        {
            ulong first = range.Start.Frame.Value;
            ulong end = (range.End.Value + BlockSize - 1) / BlockSize;
            for (ulong pfn = first; pfn < end; pfn++)
            {
                if ((pfn & (CancellationInterval - 1)) == 0)
                    cancellationToken.ThrowIfCancellationRequested();
                if (IsSet(present, pfn))
                    continue;
                Set(present, pfn);
                if (memory.GetPageState(new PageFrameNumber(pfn)) is PageState.Present or PageState.Lost or PageState.Unreadable)
                {
                    Set(dumpable, pfn);
                    count++;
                }
            }
        }
        return count;
    }

    /// <summary>Every source note, re-serialised in the kernel's layout, plus a VMCOREINFO note when the
    /// source has VMCOREINFO but no note for it. Returns where the VMCOREINFO descriptor sits in the blob.</summary>
    private static (byte[] Notes, long VmcoreinfoOffset, int VmcoreinfoSize) BuildNotes(IDumpReader source)
    {
        using var blob = new MemoryStream();
        long vmcoreinfoOffset = 0;
        int vmcoreinfoSize = 0;
        foreach (ElfNote note in source.Notes)
        {
            if (note.IsVmcoreinfo && vmcoreinfoSize == 0)
            {
                vmcoreinfoOffset = blob.Position + ElfNote.SizeOf(note.Name, 0);
                vmcoreinfoSize = note.Descriptor.Length;
            }
            ElfNote.Write(blob, note.Name, note.Type, note.Descriptor.Span);
        }
        if (vmcoreinfoSize == 0 && source.Vmcoreinfo is Vmcoreinfo info)
        {
            byte[] text = Encoding.ASCII.GetBytes(info.Text);
            vmcoreinfoOffset = blob.Position + ElfNote.SizeOf("VMCOREINFO", 0);
            vmcoreinfoSize = text.Length;
            ElfNote.Write(blob, "VMCOREINFO", ElfNote.NtVmcoreinfo, text);
        }
        return (blob.ToArray(), vmcoreinfoOffset, vmcoreinfoSize);
    }

    /// <summary>
    /// The source's utsname when its container has one; else the kernel's own, read from init_uts_ns
    /// as makedumpfile does (libkdumpfile, and so drgn, trusts a header utsname only when sysname,
    /// release, version and machine are all filled in, and takes the architecture from it); else what
    /// VMCOREINFO tells: OSRELEASE, and "x86_64" when it exports x86_64-only symbols
    /// (arch/x86/kernel/vmcore_info_64.c: init_top_pgt, formerly init_level4_pgt).
    /// </summary>
    private static UtsName UtsNameOf(IDumpReader source, ulong? physBase)
    {
        if (UtsName.Find(source, physBase) is UtsName found)
            return found;
        Vmcoreinfo? info = source.Vmcoreinfo;
        if (info is null)
            return UtsName.Empty;
        bool x86_64 = info.Symbol("init_top_pgt") is not null || info.Symbol("init_level4_pgt") is not null;
        return UtsName.Empty with { SysName = "Linux", Release = info.OsRelease ?? "", Machine = x86_64 ? "x86_64" : "" };
    }

    private static bool IsSet(byte[] bitmap, ulong pfn) => (bitmap[pfn >> 3] & (1 << (int)(pfn & 7))) != 0;

    private static void Set(byte[] bitmap, ulong pfn) => bitmap[pfn >> 3] |= (byte)(1 << (int)(pfn & 7));

    private static void WriteAt(Stream output, long offset, ReadOnlySpan<byte> bytes)
    {
        output.Position = offset;
        output.Write(bytes);
    }

    /// <summary>Streams descriptors and page data into their two regions through one buffer each.</summary>
    private sealed class PageWriter(Stream output, long start, long descriptorsOffset, long dataOffset, PageCodec codec,
        DumpHeaderFlags compressionFlag, bool shareZeroPages)
    {
        private readonly byte[] _descriptors = new byte[DescriptorBufferEntries * PageDescriptor.Length];
        private readonly byte[] _data = new byte[DataBufferBytes];
        private readonly byte[] _page = new byte[BlockSize];
        private readonly byte[] _compressed = new byte[BlockSize];
        private int _descriptorFill;
        private int _dataFill;
        private long _descriptorsFlushed = descriptorsOffset;
        private long _dataFlushed = dataOffset;
        private long _dataCursor = dataOffset;

        public long ZeroPages { get; private set; }
        public long RawPages { get; private set; }
        public long LostPages { get; private set; }

        /// <summary>File length so far, relative to the start of the dump.</summary>
        public long End => _dataCursor;

        public void WritePages(PhysicalMemory memory, byte[] dumpable, ulong frames, CancellationToken cancellationToken)
        {
            PageDescriptor zero = default;
            if (shareZeroPages)
            {
                // makedumpfile writes one zero page first in the data area and points every zero page at it.
                zero = new PageDescriptor(_dataCursor, BlockSize, DumpHeaderFlags.None, 0);
                AppendData(new byte[BlockSize]);
            }
            long written = 0;
            for (ulong pfn = 0; pfn < frames; pfn++)
            {
                if ((dumpable[pfn >> 3] & (1 << (int)(pfn & 7))) == 0)
                    continue;
                if ((written++ & (CancellationInterval - 1)) == 0)
                    cancellationToken.ThrowIfCancellationRequested();
                PageDescriptor pd;
                if (memory.ReadPage(new PageFrameNumber(pfn), _page) != PageState.Present)
                {
                    pd = default;
                    LostPages++;
                }
                else if (shareZeroPages && _page.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                {
                    pd = zero;
                    ZeroPages++;
                }
                else if (codec.TryCompress(_page, _compressed, out int size))
                {
                    pd = new PageDescriptor(_dataCursor, (uint)size, compressionFlag, 0);
                    AppendData(_compressed.AsSpan(0, size));
                }
                else
                {
                    pd = new PageDescriptor(_dataCursor, BlockSize, DumpHeaderFlags.None, 0);
                    AppendData(_page);
                    RawPages++;
                }
                AppendDescriptor(pd);
            }
            FlushDescriptors();
            FlushData();
        }

        private void AppendDescriptor(PageDescriptor pd)
        {
            if (_descriptorFill == _descriptors.Length)
                FlushDescriptors();
            pd.Write(_descriptors.AsSpan(_descriptorFill, PageDescriptor.Length));
            _descriptorFill += PageDescriptor.Length;
        }

        private void AppendData(ReadOnlySpan<byte> bytes)
        {
            if (_dataFill + bytes.Length > _data.Length)
                FlushData();
            bytes.CopyTo(_data.AsSpan(_dataFill));
            _dataFill += bytes.Length;
            _dataCursor += bytes.Length;
        }

        private void FlushDescriptors()
        {
            WriteAt(output, start + _descriptorsFlushed, _descriptors.AsSpan(0, _descriptorFill));
            _descriptorsFlushed += _descriptorFill;
            _descriptorFill = 0;
        }

        private void FlushData()
        {
            WriteAt(output, start + _dataFlushed, _data.AsSpan(0, _dataFill));
            _dataFlushed += _dataFill;
            _dataFill = 0;
        }
    }
}
