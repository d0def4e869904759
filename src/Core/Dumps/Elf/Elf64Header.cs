using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Elf;

/// <summary>
/// <c>Elf64_Ehdr</c> (include/uapi/linux/elf.h). Only the fields a core file uses are kept.
/// </summary>
internal readonly struct Elf64Header
{
    public const int Size = 64;
    public const byte ClassElf64 = 2;
    public const byte DataLittleEndian = 1;
    public const ushort TypeCore = 4;
    public const ushort MachineX86_64 = 62;

    /// <summary>e_phnum value meaning "the real count is in section header 0's sh_info" (PN_XNUM).</summary>
    public const ushort ExtendedNumbering = 0xffff;

    /// <summary>makedumpfile sets bit 0 of e_flags when it could not write every page (DUMP_ELF_INCOMPLETE).</summary>
    public const uint FlagIncomplete = 0x1;

    // Offsets in Elf64_Ehdr, each following from the previous field's size.
    private const int IdentOffset = 0;          // unsigned char e_ident[16]
    private const int TypeOffset = 16;          // Elf64_Half e_type
    private const int MachineOffset = 18;       // Elf64_Half e_machine
    private const int VersionOffset = 20;       // Elf64_Word e_version
    private const int EntryOffset = 24;         // Elf64_Addr e_entry
    private const int PhOffOffset = 32;         // Elf64_Off e_phoff
    private const int ShOffOffset = 40;         // Elf64_Off e_shoff
    private const int FlagsOffset = 48;         // Elf64_Word e_flags
    private const int EhSizeOffset = 52;        // Elf64_Half e_ehsize
    private const int PhEntSizeOffset = 54;     // Elf64_Half e_phentsize
    private const int PhNumOffset = 56;         // Elf64_Half e_phnum
    private const int ShEntSizeOffset = 58;     // Elf64_Half e_shentsize
    private const int ShNumOffset = 60;         // Elf64_Half e_shnum

    public Elf64Header(ReadOnlySpan<byte> b)
    {
        Class = b[IdentOffset + 4];
        Data = b[IdentOffset + 5];
        Type = BinaryPrimitives.ReadUInt16LittleEndian(b[TypeOffset..]);
        Machine = BinaryPrimitives.ReadUInt16LittleEndian(b[MachineOffset..]);
        ProgramHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[PhOffOffset..]);
        SectionHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[ShOffOffset..]);
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[FlagsOffset..]);
        ProgramHeaderEntrySize = BinaryPrimitives.ReadUInt16LittleEndian(b[PhEntSizeOffset..]);
        ProgramHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(b[PhNumOffset..]);
        SectionHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(b[ShNumOffset..]);
    }

    public byte Class { get; }
    public byte Data { get; }
    public ushort Type { get; }
    public ushort Machine { get; }
    public ulong ProgramHeaderOffset { get; }
    public ulong SectionHeaderOffset { get; }
    public uint Flags { get; }
    public ushort ProgramHeaderEntrySize { get; }
    public ushort ProgramHeaderCount { get; }
    public ushort SectionHeaderCount { get; }

    public static void Write(Span<byte> b, ushort programHeaderCount, uint flags)
    {
        b[..Size].Clear();
        "\u007fELF"u8.CopyTo(b);
        b[IdentOffset + 4] = ClassElf64;
        b[IdentOffset + 5] = DataLittleEndian;
        b[IdentOffset + 6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(b[TypeOffset..], TypeCore);
        BinaryPrimitives.WriteUInt16LittleEndian(b[MachineOffset..], MachineX86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(b[VersionOffset..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(b[EntryOffset..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PhOffOffset..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[EhSizeOffset..], Size);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PhEntSizeOffset..], Elf64ProgramHeader.Size);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PhNumOffset..], programHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b[ShEntSizeOffset..], 64);
    }
}
