using System.Buffers.Binary;

namespace KdumpSharp.Initramfs;

/// <summary>
/// The parts of <c>Elf64_Ehdr</c> (include/uapi/linux/elf.h) the dependency walk needs: identity,
/// type, machine and where the program headers are. Little-endian only, as on x86_64.
/// </summary>
internal readonly struct Elf64FileHeader
{
    // e_ident and the fields in file order; each offset is the previous one plus its size.
    private const int IdentLength = 16;
    public const int ClassOffset = 4;                           // e_ident[EI_CLASS]
    public const int DataOffset = 5;                            // e_ident[EI_DATA]
    public const int TypeOffset = IdentLength;                  // e_type, u16
    public const int MachineOffset = TypeOffset + 2;            // e_machine, u16
    private const int VersionOffset = MachineOffset + 2;        // e_version, u32
    private const int EntryOffset = VersionOffset + 4;          // e_entry, u64
    private const int PhOffOffset = EntryOffset + 8;            // e_phoff, u64
    private const int ShOffOffset = PhOffOffset + 8;            // e_shoff, u64
    private const int FlagsOffset = ShOffOffset + 8;            // e_flags, u32
    private const int EhSizeOffset = FlagsOffset + 4;           // e_ehsize, u16
    public const int PhEntSizeOffset = EhSizeOffset + 2;        // e_phentsize, u16
    public const int PhNumOffset = PhEntSizeOffset + 2;         // e_phnum, u16

    /// <summary>sizeof(Elf64_Ehdr).</summary>
    public const int Size = PhNumOffset + 2 + 2 + 2 + 2;        // + e_shentsize, e_shnum, e_shstrndx

    public const byte ClassElf64 = 2;       // ELFCLASS64
    public const byte DataLittleEndian = 1; // ELFDATA2LSB
    public const ushort TypeExecutable = 2; // ET_EXEC
    public const ushort TypeShared = 3;     // ET_DYN (shared objects and PIE executables)

    public static ReadOnlySpan<byte> Magic => [0x7f, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>Reads the header; the caller has checked the magic, class and byte order.</summary>
    public Elf64FileHeader(ReadOnlySpan<byte> bytes)
    {
        Class = bytes[ClassOffset];
        Data = bytes[DataOffset];
        Type = BinaryPrimitives.ReadUInt16LittleEndian(bytes[TypeOffset..]);
        Machine = BinaryPrimitives.ReadUInt16LittleEndian(bytes[MachineOffset..]);
        ProgramHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[PhOffOffset..]);
        ProgramHeaderEntrySize = BinaryPrimitives.ReadUInt16LittleEndian(bytes[PhEntSizeOffset..]);
        ProgramHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(bytes[PhNumOffset..]);
    }

    /// <summary>EI_CLASS.</summary>
    public byte Class { get; }

    /// <summary>EI_DATA.</summary>
    public byte Data { get; }

    /// <summary>e_type.</summary>
    public ushort Type { get; }

    /// <summary>e_machine (62 = EM_X86_64).</summary>
    public ushort Machine { get; }

    /// <summary>e_phoff.</summary>
    public ulong ProgramHeaderOffset { get; }

    /// <summary>e_phentsize.</summary>
    public ushort ProgramHeaderEntrySize { get; }

    /// <summary>e_phnum.</summary>
    public ushort ProgramHeaderCount { get; }
}
