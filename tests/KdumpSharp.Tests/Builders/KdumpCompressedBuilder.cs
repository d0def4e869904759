using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Compression;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds small kdump-compressed files field by field, from the layout in makedumpfile's
/// diskdump_mod.h and IMPLEMENTATION (offsets typed in from docs/dump-formats §2, not taken from
/// Core), so the reader and the writer are both checked against something independent.
/// Pages are added per pfn; <see cref="Build"/> returns the bytes and where each part landed, so a
/// test can corrupt exactly one field.
/// </summary>
internal sealed class KdumpCompressedBuilder
{
    public const int Block = 4096;

    // disk_dump_header (x86_64)
    public const int SignatureField = 0;
    public const int HeaderVersionField = 8;
    public const int UtsNameField = 12;
    public const int TimestampField = 408;
    public const int StatusField = 424;
    public const int BlockSizeField = 428;
    public const int SubHeaderSizeField = 432;
    public const int BitmapBlocksField = 436;
    public const int MaxMapnrField = 440;
    public const int NrCpusField = 460;

    // kdump_sub_header, relative to block 1
    public const int PhysBaseField = 0;
    public const int DumpLevelField = 8;
    public const int SplitField = 12;
    public const int StartPfnField = 16;
    public const int EndPfnField = 24;
    public const int OffsetVmcoreinfoField = 32;
    public const int SizeVmcoreinfoField = 40;
    public const int OffsetNoteField = 48;
    public const int SizeNoteField = 56;
    public const int StartPfn64Field = 80;
    public const int EndPfn64Field = 88;
    public const int MaxMapnr64Field = 96;
    public const int SubHeaderBytes = 104;

    public const uint FlagZlib = 0x1, FlagLzo = 0x2, FlagSnappy = 0x4, FlagIncomplete = 0x8, FlagZstd = 0x20;

    private readonly SortedDictionary<ulong, byte[]?> _pages = new();
    private readonly List<(string Name, uint Type, byte[] Descriptor)> _notes = [];
    private readonly HashSet<ulong> _raw = [];

    public string Signature { get; set; } = "KDUMP   ";
    public int HeaderVersion { get; set; } = 6;
    public string[] UtsName { get; set; } = ["Linux", "testhost", "6.1.0-56-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1", "x86_64", "(none)"];
    public long Timestamp { get; set; } = 1_700_000_000;
    public uint ExtraStatus { get; set; }
    public int DumpLevel { get; set; } = 31;
    public ulong PhysBase { get; set; } = 0x1c000000;
    public int NrCpus { get; set; } = 2;
    public PageCompression Compression { get; set; } = PageCompression.Zlib;
    public bool ShareZeroPages { get; set; }

    /// <summary>max_mapnr; by default one past the highest pfn added.</summary>
    public ulong? MaxMapnr { get; set; }

    /// <summary>One bitmap serving as both, as in an old full diskdump (crash dump_is_partial).</summary>
    public bool SingleBitmap { get; set; }

    /// <summary>Makes this a file of a --split set holding pfns [start, end).</summary>
    public (ulong Start, ulong End)? Split { get; set; }

    /// <summary>Adds RAM pages [first, first + count); each gets <see cref="Pattern"/> content unless set otherwise.</summary>
    public KdumpCompressedBuilder AddRam(ulong first, ulong count)
    {
        for (ulong pfn = first; pfn < first + count; pfn++)
            _pages.TryAdd(pfn, Pattern(pfn));
        return this;
    }

    public KdumpCompressedBuilder SetPage(ulong pfn, byte[] content)
    {
        _pages[pfn] = content;
        return this;
    }

    /// <summary>Keeps the page in the 1st bitmap and clears it in the 2nd, as a dump level does.</summary>
    public KdumpCompressedBuilder Exclude(ulong pfn)
    {
        _pages[pfn] = null;
        return this;
    }

    /// <summary>Stores the page uncompressed even where compression would shrink it.</summary>
    public KdumpCompressedBuilder StoreRaw(ulong pfn)
    {
        _raw.Add(pfn);
        return this;
    }

    public KdumpCompressedBuilder AddNote(string name, uint type, byte[] descriptor)
    {
        _notes.Add((name, type, descriptor));
        return this;
    }

    public KdumpCompressedBuilder AddVmcoreinfo(string text) => AddNote("VMCOREINFO", 0, Encoding.ASCII.GetBytes(text));

    /// <summary>A 336-byte x86_64 elf_prstatus with pr_pid and rip set.</summary>
    public KdumpCompressedBuilder AddPrStatus(int pid, ulong rip)
    {
        var prstatus = new byte[336];
        BinaryPrimitives.WriteInt32LittleEndian(prstatus.AsSpan(32), pid);
        BinaryPrimitives.WriteUInt64LittleEndian(prstatus.AsSpan(112 + 128), rip);
        return AddNote("CORE", 1, prstatus);
    }

    /// <summary>Recognisable, compressible content unique to each pfn.</summary>
    public static byte[] Pattern(ulong pfn)
    {
        var page = new byte[Block];
        byte[] text = Encoding.ASCII.GetBytes($"page {pfn:x8} of a KdumpCompressedBuilder image. ");
        for (int at = 0; at + text.Length <= 1024; at += text.Length)
            text.CopyTo(page, at);
        for (int at = 1024; at < 2048; at += 8)
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(at), pfn * 0x9e3779b97f4a7c15UL + (ulong)at);
        return page;
    }

    public KdumpImage Build()
    {
        ulong maxMapnr = MaxMapnr ?? (_pages.Count == 0 ? 0 : _pages.Keys.Max() + 1);
        byte[] notes = NotesBlob(out long vmcoreinfoInBlob, out int vmcoreinfoSize);
        int subHeaderBlocks = (SubHeaderBytes + notes.Length + Block - 1) / Block;
        long bitmapBytes = (long)((maxMapnr + 8 * Block - 1) / (8 * Block)) * Block;
        long bitmap1 = (1 + subHeaderBlocks) * (long)Block;
        long bitmap2 = SingleBitmap ? bitmap1 : bitmap1 + bitmapBytes;
        long descriptors = bitmap2 + bitmapBytes;

        (ulong splitStart, ulong splitEnd) = Split ?? (0, maxMapnr);
        var dumped = _pages.Where(p => p.Value is not null && p.Key >= splitStart && p.Key < splitEnd).Select(p => p.Key).ToList();
        long data = descriptors + dumped.Count * 24L;

        using var file = new MemoryStream();
        file.SetLength(data);
        var image = new KdumpImage { Bitmap1Offset = bitmap1, Bitmap2Offset = bitmap2, DescriptorsOffset = descriptors, DataOffset = data };

        var header = new byte[Block];
        Encoding.ASCII.GetBytes(Signature).CopyTo(header, SignatureField);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(HeaderVersionField), HeaderVersion);
        for (int i = 0; i < 6; i++)
            Encoding.ASCII.GetBytes(UtsName[i]).CopyTo(header, UtsNameField + 65 * i);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(TimestampField), Timestamp);
        uint compressionFlag = Compression switch
        {
            PageCompression.Zlib => FlagZlib,
            PageCompression.Lzo => FlagLzo,
            PageCompression.Snappy => FlagSnappy,
            PageCompression.Zstd => FlagZstd,
            _ => 0u,
        };
        uint status = ExtraStatus | compressionFlag;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(StatusField), status);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(BlockSizeField), Block);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(SubHeaderSizeField), subHeaderBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(BitmapBlocksField), (uint)((descriptors - bitmap1) / Block));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(MaxMapnrField), (uint)Math.Min(maxMapnr, uint.MaxValue));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(NrCpusField), NrCpus);
        file.Write(header, 0, 464);

        if (Signature == "KDUMP   ")
        {
            var sub = new byte[SubHeaderBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(PhysBaseField), PhysBase);
            BinaryPrimitives.WriteInt32LittleEndian(sub.AsSpan(DumpLevelField), DumpLevel);
            if (Split is var (start, end))
            {
                BinaryPrimitives.WriteInt32LittleEndian(sub.AsSpan(SplitField), 1);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(StartPfnField), start);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(EndPfnField), end);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(StartPfn64Field), start);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(EndPfn64Field), end);
            }
            long notesOffset = Block + SubHeaderBytes;
            if (notes.Length > 0)
            {
                BinaryPrimitives.WriteInt64LittleEndian(sub.AsSpan(OffsetNoteField), notesOffset);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(SizeNoteField), (ulong)notes.Length);
                image.NotesOffset = notesOffset;
            }
            if (vmcoreinfoSize > 0)
            {
                BinaryPrimitives.WriteInt64LittleEndian(sub.AsSpan(OffsetVmcoreinfoField), notesOffset + vmcoreinfoInBlob);
                BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(SizeVmcoreinfoField), (ulong)vmcoreinfoSize);
                image.VmcoreinfoOffset = notesOffset + vmcoreinfoInBlob;
            }
            BinaryPrimitives.WriteUInt64LittleEndian(sub.AsSpan(MaxMapnr64Field), maxMapnr);
            // A file of an older header_version has only the fields that version defines.
            int[] sizeByVersion = [8, 12, 32, 48, 64, 80, 104];
            int size = sizeByVersion[Math.Clamp(HeaderVersion, 0, 6)];
            file.Position = Block;
            file.Write(sub, 0, size);
            file.Position = notesOffset;
            file.Write(notes);
        }

        var present = new byte[bitmapBytes];
        var dumpable = new byte[bitmapBytes];
        foreach ((ulong pfn, byte[]? content) in _pages)
        {
            present[pfn / 8] |= (byte)(1 << (int)(pfn % 8));
            if (content is not null)
                dumpable[pfn / 8] |= (byte)(1 << (int)(pfn % 8));
        }
        file.Position = bitmap1;
        file.Write(present);
        file.Position = bitmap2;
        file.Write(dumpable);

        using PageCodec codec = PageCodec.Create(Compression);
        long cursor = data;
        var dataBytes = new MemoryStream();
        long zeroOffset = 0;
        if (ShareZeroPages)
        {
            zeroOffset = cursor;
            dataBytes.Write(new byte[Block]);
            cursor += Block;
        }
        var compressed = new byte[Block];
        for (int i = 0; i < dumped.Count; i++)
        {
            ulong pfn = dumped[i];
            byte[] content = _pages[pfn]!;
            long offset;
            int size;
            uint flags;
            if (ShareZeroPages && content.All(b => b == 0))
                (offset, size, flags) = (zeroOffset, Block, 0u);
            else if (!_raw.Contains(pfn) && codec.TryCompress(content, compressed, out int written))
            {
                (offset, size, flags) = (cursor, written, compressionFlag);
                dataBytes.Write(compressed, 0, written);
                cursor += written;
            }
            else
            {
                (offset, size, flags) = (cursor, Block, 0u);
                dataBytes.Write(content);
                cursor += Block;
            }
            var descriptor = new byte[24];
            BinaryPrimitives.WriteInt64LittleEndian(descriptor, offset);
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor.AsSpan(8), (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor.AsSpan(12), flags);
            file.Position = descriptors + 24L * i;
            file.Write(descriptor);
            image.Pages[pfn] = new PagePlacement(descriptors + 24L * i, offset, size, flags);
        }
        file.Position = data;
        file.Write(dataBytes.ToArray());
        image.Bytes = file.ToArray();
        return image;
    }

    private byte[] NotesBlob(out long vmcoreinfoInBlob, out int vmcoreinfoSize)
    {
        using var blob = new MemoryStream();
        vmcoreinfoInBlob = 0;
        vmcoreinfoSize = 0;
        foreach ((string name, uint type, byte[] descriptor) in _notes)
        {
            byte[] nameBytes = Encoding.ASCII.GetBytes(name + "\0");
            var nhdr = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(nhdr, (uint)nameBytes.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(nhdr.AsSpan(4), (uint)descriptor.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(nhdr.AsSpan(8), type);
            blob.Write(nhdr);
            blob.Write(nameBytes);
            blob.Write(new byte[(4 - nameBytes.Length % 4) % 4]);
            if (name == "VMCOREINFO" && vmcoreinfoSize == 0)
            {
                vmcoreinfoInBlob = blob.Position;
                vmcoreinfoSize = descriptor.Length;
            }
            blob.Write(descriptor);
            blob.Write(new byte[(4 - descriptor.Length % 4) % 4]);
        }
        return blob.ToArray();
    }
}

/// <summary>Where one page's descriptor and data landed in a built image.</summary>
internal readonly record struct PagePlacement(long DescriptorOffset, long DataOffset, int Size, uint Flags);

/// <summary>A built kdump-compressed file and the offsets of its parts.</summary>
internal sealed class KdumpImage
{
    public byte[] Bytes { get; set; } = [];
    public long NotesOffset { get; set; }
    public long VmcoreinfoOffset { get; set; }
    public long Bitmap1Offset { get; set; }
    public long Bitmap2Offset { get; set; }
    public long DescriptorsOffset { get; set; }
    public long DataOffset { get; set; }
    public SortedDictionary<ulong, PagePlacement> Pages { get; } = new();

    public long SubHeader(int field) => KdumpCompressedBuilder.Block + field;

    public KdumpImage With(Action<byte[]> mutate)
    {
        var copy = new KdumpImage
        {
            Bytes = (byte[])Bytes.Clone(),
            NotesOffset = NotesOffset,
            VmcoreinfoOffset = VmcoreinfoOffset,
            Bitmap1Offset = Bitmap1Offset,
            Bitmap2Offset = Bitmap2Offset,
            DescriptorsOffset = DescriptorsOffset,
            DataOffset = DataOffset,
        };
        foreach ((ulong pfn, PagePlacement p) in Pages)
            copy.Pages[pfn] = p;
        mutate(copy.Bytes);
        return copy;
    }

    public KdumpImage WithInt32(long offset, int value) => With(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan((int)offset), value));
    public KdumpImage WithUInt32(long offset, uint value) => With(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)offset), value));
    public KdumpImage WithInt64(long offset, long value) => With(b => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan((int)offset), value));
    public KdumpImage WithUInt64(long offset, ulong value) => With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)offset), value));

    public KdumpImage Truncated(long length) => With(_ => { }).WithBytes(Bytes[..(int)length]);

    private KdumpImage WithBytes(byte[] bytes)
    {
        Bytes = bytes;
        return this;
    }
}
