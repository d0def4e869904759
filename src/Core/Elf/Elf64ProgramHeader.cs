using System.Buffers.Binary;

namespace KdumpSharp.Elf;

/// <summary><c>Elf64_Phdr</c> (include/uapi/linux/elf.h).</summary>
internal readonly struct Elf64ProgramHeader
{
    private const int TypeOffset = 0;                       // p_type, u32
    private const int FlagsOffset = TypeOffset + 4;         // p_flags, u32
    private const int FileOffsetOffset = FlagsOffset + 4;   // p_offset, u64
    private const int VAddrOffset = FileOffsetOffset + 8;   // p_vaddr, u64
    private const int PAddrOffset = VAddrOffset + 8;        // p_paddr, u64
    private const int FileSizeOffset = PAddrOffset + 8;     // p_filesz, u64
    private const int MemSizeOffset = FileSizeOffset + 8;   // p_memsz, u64
    private const int AlignOffset = MemSizeOffset + 8;      // p_align, u64

    /// <summary>sizeof(Elf64_Phdr).</summary>
    public const int Size = AlignOffset + 8;

    public const uint TypeLoad = 1;     // PT_LOAD
    public const uint TypeDynamic = 2;  // PT_DYNAMIC
    public const uint TypeInterp = 3;   // PT_INTERP
    public const uint TypeNote = 4;     // PT_NOTE

    public Elf64ProgramHeader(uint type, ulong offset, ulong virtualAddress, ulong physicalAddress, ulong fileSize, ulong memorySize)
    {
        Type = type;
        FileOffset = offset;
        VirtualAddress = virtualAddress;
        PhysicalAddress = physicalAddress;
        FileSize = fileSize;
        MemorySize = memorySize;
    }

    public Elf64ProgramHeader(ReadOnlySpan<byte> b)
        : this(BinaryPrimitives.ReadUInt32LittleEndian(b[TypeOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[FileOffsetOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[VAddrOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[PAddrOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[FileSizeOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[MemSizeOffset..]))
    {
    }

    /// <summary>p_type.</summary>
    public uint Type { get; }

    /// <summary>p_offset.</summary>
    public ulong FileOffset { get; }

    /// <summary>p_vaddr.</summary>
    public ulong VirtualAddress { get; }

    /// <summary>p_paddr.</summary>
    public ulong PhysicalAddress { get; }

    /// <summary>p_filesz.</summary>
    public ulong FileSize { get; }

    /// <summary>p_memsz.</summary>
    public ulong MemorySize { get; }

    /// <summary>Whether virtual <paramref name="address"/> lies in the file-backed part of this segment.</summary>
    public bool ContainsInFile(ulong address) => address >= VirtualAddress && address - VirtualAddress < FileSize;

    public Elf64ProgramHeader WithFileOffset(ulong offset) => new(Type, offset, VirtualAddress, PhysicalAddress, FileSize, MemorySize);

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b[TypeOffset..], Type);
        // The kernel marks vmcore segments RWX (kernel/crash_core.c); notes carry no flags.
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], Type == TypeLoad ? 7u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(b[FileOffsetOffset..], FileOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[VAddrOffset..], VirtualAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PAddrOffset..], PhysicalAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(b[FileSizeOffset..], FileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[MemSizeOffset..], MemorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[AlignOffset..], Type == TypeNote ? 4u : 0u);
    }
}
