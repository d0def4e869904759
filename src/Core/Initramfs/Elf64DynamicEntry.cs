using System.Buffers.Binary;

namespace KdumpSharp.Initramfs;

/// <summary><c>Elf64_Dyn</c> (include/uapi/linux/elf.h): a tag and a value or address.</summary>
internal readonly struct Elf64DynamicEntry
{
    private const int TagOffset = 0;                // d_tag, s64
    private const int ValueOffset = TagOffset + 8;  // d_un, u64

    /// <summary>sizeof(Elf64_Dyn).</summary>
    public const int Size = ValueOffset + 8;

    public const long TagNull = 0;      // DT_NULL, ends the array
    public const long TagNeeded = 1;    // DT_NEEDED, string-table offset of a library name
    public const long TagStrTab = 5;    // DT_STRTAB, address of the string table
    public const long TagSoName = 14;   // DT_SONAME
    public const long TagRPath = 15;    // DT_RPATH
    public const long TagStrSz = 10;    // DT_STRSZ
    public const long TagRunPath = 29;  // DT_RUNPATH

    public Elf64DynamicEntry(ReadOnlySpan<byte> bytes)
    {
        Tag = BinaryPrimitives.ReadInt64LittleEndian(bytes[TagOffset..]);
        Value = BinaryPrimitives.ReadUInt64LittleEndian(bytes[ValueOffset..]);
    }

    /// <summary>d_tag.</summary>
    public long Tag { get; }

    /// <summary>d_val or d_ptr.</summary>
    public ulong Value { get; }
}
