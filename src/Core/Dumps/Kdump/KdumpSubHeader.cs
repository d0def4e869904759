using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// makedumpfile diskdump_mod.h <c>struct kdump_sub_header</c>, 64-bit layout (104 bytes), at the
/// start of block 1 of a "KDUMP   " file. Each header_version added fields at the end; fields
/// newer than the file's version read as 0.
/// </summary>
internal readonly struct KdumpSubHeader
{
    public const int PhysBaseOffset = 0;                                          // unsigned long phys_base
    public const int DumpLevelOffset = PhysBaseOffset + sizeof(ulong);             // int dump_level          (v1)
    public const int SplitOffset = DumpLevelOffset + sizeof(int);                  // int split               (v2)
    public const int StartPfnOffset = SplitOffset + sizeof(int);                   // unsigned long start_pfn (v2)
    public const int EndPfnOffset = StartPfnOffset + sizeof(ulong);                // unsigned long end_pfn   (v2)
    public const int OffsetVmcoreinfoOffset = EndPfnOffset + sizeof(ulong);        // off_t offset_vmcoreinfo (v3)
    public const int SizeVmcoreinfoOffset = OffsetVmcoreinfoOffset + sizeof(long); // unsigned long size_vmcoreinfo
    public const int OffsetNoteOffset = SizeVmcoreinfoOffset + sizeof(ulong);      // off_t offset_note       (v4)
    public const int SizeNoteOffset = OffsetNoteOffset + sizeof(long);             // unsigned long size_note
    public const int OffsetEraseinfoOffset = SizeNoteOffset + sizeof(ulong);       // off_t offset_eraseinfo  (v5)
    public const int SizeEraseinfoOffset = OffsetEraseinfoOffset + sizeof(long);   // unsigned long size_eraseinfo
    public const int StartPfn64Offset = SizeEraseinfoOffset + sizeof(ulong);       // u64 start_pfn_64        (v6)
    public const int EndPfn64Offset = StartPfn64Offset + sizeof(ulong);            // u64 end_pfn_64
    public const int MaxMapnr64Offset = EndPfn64Offset + sizeof(ulong);            // u64 max_mapnr_64
    public const int Size = MaxMapnr64Offset + sizeof(ulong);

    public const int LatestVersion = 6;

    /// <summary>Bytes of the sub header that exist in a file of <paramref name="headerVersion"/> (0..6).</summary>
    public static int SizeForVersion(int headerVersion) => headerVersion switch
    {
        0 => DumpLevelOffset,
        1 => SplitOffset,
        2 => OffsetVmcoreinfoOffset,
        3 => OffsetNoteOffset,
        4 => OffsetEraseinfoOffset,
        5 => StartPfn64Offset,
        _ => Size,
    };

    /// <summary>Reads the fields present in <paramref name="b"/> (<see cref="SizeForVersion"/> bytes); absent ones are 0.</summary>
    public KdumpSubHeader(ReadOnlySpan<byte> b)
    {
        Span<byte> full = stackalloc byte[Size];
        full.Clear();
        b[..Math.Min(b.Length, Size)].CopyTo(full);
        PhysBase = BinaryPrimitives.ReadUInt64LittleEndian(full[PhysBaseOffset..]);
        DumpLevel = BinaryPrimitives.ReadInt32LittleEndian(full[DumpLevelOffset..]);
        Split = BinaryPrimitives.ReadInt32LittleEndian(full[SplitOffset..]);
        StartPfn = BinaryPrimitives.ReadUInt64LittleEndian(full[StartPfnOffset..]);
        EndPfn = BinaryPrimitives.ReadUInt64LittleEndian(full[EndPfnOffset..]);
        OffsetVmcoreinfo = BinaryPrimitives.ReadInt64LittleEndian(full[OffsetVmcoreinfoOffset..]);
        SizeVmcoreinfo = BinaryPrimitives.ReadUInt64LittleEndian(full[SizeVmcoreinfoOffset..]);
        OffsetNote = BinaryPrimitives.ReadInt64LittleEndian(full[OffsetNoteOffset..]);
        SizeNote = BinaryPrimitives.ReadUInt64LittleEndian(full[SizeNoteOffset..]);
        OffsetEraseinfo = BinaryPrimitives.ReadInt64LittleEndian(full[OffsetEraseinfoOffset..]);
        SizeEraseinfo = BinaryPrimitives.ReadUInt64LittleEndian(full[SizeEraseinfoOffset..]);
        StartPfn64 = BinaryPrimitives.ReadUInt64LittleEndian(full[StartPfn64Offset..]);
        EndPfn64 = BinaryPrimitives.ReadUInt64LittleEndian(full[EndPfn64Offset..]);
        MaxMapnr64 = BinaryPrimitives.ReadUInt64LittleEndian(full[MaxMapnr64Offset..]);
    }

    public ulong PhysBase { get; init; }
    public int DumpLevel { get; init; }

    /// <summary>Non-zero in one file of a <c>--split</c> set, which holds only pfns [start, end).</summary>
    public int Split { get; init; }

    public ulong StartPfn { get; init; }
    public ulong EndPfn { get; init; }

    /// <summary>File offset of the VMCOREINFO text, inside the notes blob.</summary>
    public long OffsetVmcoreinfo { get; init; }

    public ulong SizeVmcoreinfo { get; init; }
    public long OffsetNote { get; init; }
    public ulong SizeNote { get; init; }
    public long OffsetEraseinfo { get; init; }
    public ulong SizeEraseinfo { get; init; }
    public ulong StartPfn64 { get; init; }
    public ulong EndPfn64 { get; init; }
    public ulong MaxMapnr64 { get; init; }

    /// <summary>Writes the header_version 6 layout; start_pfn, end_pfn and eraseinfo stay 0 as for an unsplit makedumpfile dump.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(b[PhysBaseOffset..], PhysBase);
        BinaryPrimitives.WriteInt32LittleEndian(b[DumpLevelOffset..], DumpLevel);
        BinaryPrimitives.WriteInt64LittleEndian(b[OffsetVmcoreinfoOffset..], OffsetVmcoreinfo);
        BinaryPrimitives.WriteUInt64LittleEndian(b[SizeVmcoreinfoOffset..], SizeVmcoreinfo);
        BinaryPrimitives.WriteInt64LittleEndian(b[OffsetNoteOffset..], OffsetNote);
        BinaryPrimitives.WriteUInt64LittleEndian(b[SizeNoteOffset..], SizeNote);
        BinaryPrimitives.WriteUInt64LittleEndian(b[MaxMapnr64Offset..], MaxMapnr64);
    }
}
