using System.Buffers.Binary;

namespace KdumpSharp.Elf;

/// <summary>
/// <c>Elf64_Ehdr</c> (include/uapi/linux/elf.h), little-endian as on x86_64. Read by the vmcore
/// reader and the initramfs dependency walk, written by the vmcore writer.
/// </summary>
internal readonly struct Elf64Header
{
    // e_ident and the fields in file order; each offset is the previous one plus its size.
    private const int IdentLength = 16;
    public const int ClassOffset = 4;                           // e_ident[EI_CLASS]
    public const int DataOffset = 5;                            // e_ident[EI_DATA]
    private const int IdentVersionOffset = 6;                   // e_ident[EI_VERSION]
    public const int TypeOffset = IdentLength;                  // e_type, u16
    public const int MachineOffset = TypeOffset + 2;            // e_machine, u16
    private const int VersionOffset = MachineOffset + 2;        // e_version, u32
    private const int EntryOffset = VersionOffset + 4;          // e_entry, u64
    public const int PhOffOffset = EntryOffset + 8;             // e_phoff, u64
    public const int ShOffOffset = PhOffOffset + 8;             // e_shoff, u64
    private const int FlagsOffset = ShOffOffset + 8;            // e_flags, u32
    private const int EhSizeOffset = FlagsOffset + 4;           // e_ehsize, u16
    public const int PhEntSizeOffset = EhSizeOffset + 2;        // e_phentsize, u16
    public const int PhNumOffset = PhEntSizeOffset + 2;         // e_phnum, u16
    private const int ShEntSizeOffset = PhNumOffset + 2;        // e_shentsize, u16
    public const int ShNumOffset = ShEntSizeOffset + 2;         // e_shnum, u16
    private const int ShStrNdxOffset = ShNumOffset + 2;         // e_shstrndx, u16

    /// <summary>sizeof(Elf64_Ehdr).</summary>
    public const int Size = ShStrNdxOffset + 2;

    /// <summary>sizeof(Elf64_Shdr), and where sh_info sits in it (PN_XNUM keeps the real e_phnum there).</summary>
    public const int SectionHeaderSize = 64;
    public const int SectionInfoOffset = 44;

    public const byte ClassElf64 = 2;        // ELFCLASS64
    public const byte DataLittleEndian = 1;  // ELFDATA2LSB
    public const ushort TypeRelocatable = 1; // ET_REL
    public const ushort TypeExecutable = 2;  // ET_EXEC
    public const ushort TypeShared = 3;      // ET_DYN (shared objects and PIE executables)
    public const ushort TypeCore = 4;        // ET_CORE
    public const ushort MachineX86_64 = 62;  // EM_X86_64

    /// <summary>e_phnum value meaning "the real count is in section header 0's sh_info" (PN_XNUM).</summary>
    public const ushort ExtendedNumbering = 0xffff;

    /// <summary>makedumpfile sets bit 0 of e_flags when it could not write every page (DUMP_ELF_INCOMPLETE).</summary>
    public const uint FlagIncomplete = 0x1;

    public static ReadOnlySpan<byte> Magic => [0x7f, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>Reads the header; the caller has checked the length and the magic.</summary>
    public Elf64Header(ReadOnlySpan<byte> bytes)
    {
        Class = bytes[ClassOffset];
        Data = bytes[DataOffset];
        Type = BinaryPrimitives.ReadUInt16LittleEndian(bytes[TypeOffset..]);
        Machine = BinaryPrimitives.ReadUInt16LittleEndian(bytes[MachineOffset..]);
        ProgramHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[PhOffOffset..]);
        SectionHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[ShOffOffset..]);
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(bytes[FlagsOffset..]);
        ProgramHeaderEntrySize = BinaryPrimitives.ReadUInt16LittleEndian(bytes[PhEntSizeOffset..]);
        ProgramHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(bytes[PhNumOffset..]);
    }

    /// <summary>EI_CLASS.</summary>
    public byte Class { get; }

    /// <summary>EI_DATA.</summary>
    public byte Data { get; }

    /// <summary>e_type.</summary>
    public ushort Type { get; }

    /// <summary>e_machine.</summary>
    public ushort Machine { get; }

    /// <summary>e_phoff.</summary>
    public ulong ProgramHeaderOffset { get; }

    /// <summary>e_shoff.</summary>
    public ulong SectionHeaderOffset { get; }

    /// <summary>e_flags.</summary>
    public uint Flags { get; }

    /// <summary>e_phentsize.</summary>
    public ushort ProgramHeaderEntrySize { get; }

    /// <summary>e_phnum.</summary>
    public ushort ProgramHeaderCount { get; }

    /// <summary>Writes an x86_64 ET_CORE header with program headers right after it.</summary>
    public static void WriteCore(Span<byte> b, ushort programHeaderCount, uint flags)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        b[ClassOffset] = ClassElf64;
        b[DataOffset] = DataLittleEndian;
        b[IdentVersionOffset] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(b[TypeOffset..], TypeCore);
        BinaryPrimitives.WriteUInt16LittleEndian(b[MachineOffset..], MachineX86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(b[VersionOffset..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PhOffOffset..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[EhSizeOffset..], Size);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PhEntSizeOffset..], Elf64ProgramHeader.Size);
        BinaryPrimitives.WriteUInt16LittleEndian(b[PhNumOffset..], programHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b[ShEntSizeOffset..], SectionHeaderSize);
    }
}
