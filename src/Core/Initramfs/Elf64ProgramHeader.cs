using System.Buffers.Binary;

namespace KdumpSharp.Initramfs;

/// <summary><c>Elf64_Phdr</c> (include/uapi/linux/elf.h), the fields a dependency walk reads.</summary>
internal readonly struct Elf64ProgramHeader
{
    private const int TypeOffset = 0;                   // p_type, u32
    private const int FlagsOffset = TypeOffset + 4;     // p_flags, u32
    private const int FileOffsetOffset = FlagsOffset + 4; // p_offset, u64
    private const int VAddrOffset = FileOffsetOffset + 8; // p_vaddr, u64
    private const int PAddrOffset = VAddrOffset + 8;    // p_paddr, u64
    private const int FileSizeOffset = PAddrOffset + 8; // p_filesz, u64
    private const int MemSizeOffset = FileSizeOffset + 8; // p_memsz, u64
    private const int AlignOffset = MemSizeOffset + 8;  // p_align, u64

    /// <summary>sizeof(Elf64_Phdr).</summary>
    public const int Size = AlignOffset + 8;

    public const uint TypeLoad = 1;     // PT_LOAD
    public const uint TypeDynamic = 2;  // PT_DYNAMIC
    public const uint TypeInterp = 3;   // PT_INTERP

    public Elf64ProgramHeader(ReadOnlySpan<byte> bytes)
    {
        Type = BinaryPrimitives.ReadUInt32LittleEndian(bytes[TypeOffset..]);
        FileOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[FileOffsetOffset..]);
        VirtualAddress = BinaryPrimitives.ReadUInt64LittleEndian(bytes[VAddrOffset..]);
        FileSize = BinaryPrimitives.ReadUInt64LittleEndian(bytes[FileSizeOffset..]);
    }

    /// <summary>p_type.</summary>
    public uint Type { get; }

    /// <summary>p_offset.</summary>
    public ulong FileOffset { get; }

    /// <summary>p_vaddr.</summary>
    public ulong VirtualAddress { get; }

    /// <summary>p_filesz.</summary>
    public ulong FileSize { get; }

    /// <summary>Whether <paramref name="address"/> lies in the file-backed part of this segment.</summary>
    public bool ContainsInFile(ulong address) =>
        address >= VirtualAddress && address - VirtualAddress < FileSize;
}
