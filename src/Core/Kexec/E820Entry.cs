using System.Buffers.Binary;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>e820 memory types (arch/x86/include/asm/e820/types.h).</summary>
public enum E820Type : uint
{
    Ram = 1,                   // E820_TYPE_RAM
    Reserved = 2,              // E820_TYPE_RESERVED
    Acpi = 3,                  // E820_TYPE_ACPI: ACPI tables, reclaimable after parsing
    Nvs = 4,                   // E820_TYPE_NVS: ACPI non-volatile storage
    Unusable = 5,              // E820_TYPE_UNUSABLE
    PersistentMemory = 7,      // E820_TYPE_PMEM
    LegacyPersistentMemory = 12, // E820_TYPE_PRAM
    SoftReserved = 0xefffffff, // E820_TYPE_SOFT_RESERVED
}

/// <summary>
/// One <c>struct boot_e820_entry</c> (arch/x86/include/uapi/asm/bootparam.h): packed
/// {u64 addr; u64 size; u32 type}, 20 bytes, in boot_params.e820_table and in SETUP_E820_EXT data.
/// </summary>
public readonly record struct E820Entry(PhysicalRange Range, E820Type Type)
{
    private const int AddrOffset = 0;                 // addr, u64
    private const int SizeOffset = AddrOffset + 8;    // size, u64
    private const int TypeOffset = SizeOffset + 8;    // type, u32

    /// <summary>sizeof(struct boot_e820_entry).</summary>
    public const int Size = TypeOffset + 4;

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b[AddrOffset..], Range.Start.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(b[SizeOffset..], Range.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[TypeOffset..], (uint)Type);
    }

    public static E820Entry Read(ReadOnlySpan<byte> b) => new(
        PhysicalRange.FromLength(BinaryPrimitives.ReadUInt64LittleEndian(b[AddrOffset..]), BinaryPrimitives.ReadUInt64LittleEndian(b[SizeOffset..])),
        (E820Type)BinaryPrimitives.ReadUInt32LittleEndian(b[TypeOffset..]));

    /// <summary>
    /// The e820 type behind a resource name in /proc/iomem or /sys/firmware/memmap/N/type; both print
    /// e820_type_to_string() (arch/x86/kernel/e820.c). Null for names that are not e820 ranges.
    /// </summary>
    public static E820Type? TypeFromName(string name) => name switch
    {
        "System RAM" => E820Type.Ram,
        "Reserved" => E820Type.Reserved,
        "ACPI Tables" => E820Type.Acpi,
        "ACPI Non-volatile Storage" => E820Type.Nvs,
        "Unusable memory" => E820Type.Unusable,
        "Persistent Memory" => E820Type.PersistentMemory,
        "Persistent Memory (legacy)" => E820Type.LegacyPersistentMemory,
        "Soft Reserved" => E820Type.SoftReserved,
        "Unknown E820 type" => E820Type.Reserved,
        _ => null,
    };

    public override string ToString() => $"{Range} {Type}";
}
