using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Elf;

/// <summary><c>Elf64_Phdr</c> (include/uapi/linux/elf.h).</summary>
internal readonly struct Elf64ProgramHeader
{
    public const int Size = 56;
    public const uint TypeLoad = 1;
    public const uint TypeNote = 4;

    private const int TypeOffset = 0;       // Elf64_Word p_type
    private const int FlagsOffset = 4;      // Elf64_Word p_flags
    private const int OffsetOffset = 8;     // Elf64_Off p_offset
    private const int VaddrOffset = 16;     // Elf64_Addr p_vaddr
    private const int PaddrOffset = 24;     // Elf64_Addr p_paddr
    private const int FileSzOffset = 32;    // Elf64_Xword p_filesz
    private const int MemSzOffset = 40;     // Elf64_Xword p_memsz
    private const int AlignOffset = 48;     // Elf64_Xword p_align

    public Elf64ProgramHeader(uint type, ulong offset, ulong virtualAddress, ulong physicalAddress, ulong fileSize, ulong memorySize)
    {
        Type = type;
        Offset = offset;
        VirtualAddress = virtualAddress;
        PhysicalAddress = physicalAddress;
        FileSize = fileSize;
        MemorySize = memorySize;
    }

    public Elf64ProgramHeader(ReadOnlySpan<byte> b)
        : this(BinaryPrimitives.ReadUInt32LittleEndian(b[TypeOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[OffsetOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[VaddrOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[PaddrOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[FileSzOffset..]),
               BinaryPrimitives.ReadUInt64LittleEndian(b[MemSzOffset..]))
    {
    }

    public uint Type { get; }
    public ulong Offset { get; }
    public ulong VirtualAddress { get; }
    public ulong PhysicalAddress { get; }
    public ulong FileSize { get; }
    public ulong MemorySize { get; }

    public Elf64ProgramHeader WithOffset(ulong offset) => new(Type, offset, VirtualAddress, PhysicalAddress, FileSize, MemorySize);

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b[TypeOffset..], Type);
        // The kernel marks vmcore segments RWX (kernel/crash_core.c); notes carry no flags.
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], Type == TypeLoad ? 7u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(b[OffsetOffset..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[VaddrOffset..], VirtualAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PaddrOffset..], PhysicalAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(b[FileSzOffset..], FileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[MemSzOffset..], MemorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[AlignOffset..], Type == TypeNote ? 4u : 0u);
    }
}
