using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// Writes the segment that carries <c>struct boot_params</c> (the "zero page",
/// arch/x86/include/uapi/asm/bootparam.h, Documentation/x86/zero-page.rst) for the 64-bit boot
/// protocol, followed by the command line and, when the map has more than 128 entries, a
/// SETUP_E820_EXT setup_data node. Layout of the segment:
/// [0, 4096) boot_params · [4096, 4096 + cmdline + 1) command line · 8-aligned setup_data.
/// </summary>
public static class BootParams
{
    public const int Size = 4096;                        // sizeof(struct boot_params)

    // struct boot_params fields, offsets from bootparam.h (checked by the unit tests).
    public const int ScreenInfoOffset = 0x000;           // screen_info, struct screen_info (0x40 bytes)
    public const int ScreenInfoSize = 0x40;
    public const int ClMagicOffset = 0x020;              // screen_info.cl_magic, u16 (old command-line protocol)
    public const int ClOffsetOffset = 0x022;             // screen_info.cl_offset, u16
    public const int AcpiRsdpAddrOffset = 0x070;         // acpi_rsdp_addr, u64
    public const int ExtRamdiskImageOffset = 0x0C0;      // ext_ramdisk_image, u32 (bits 32..63)
    public const int ExtRamdiskSizeOffset = 0x0C4;       // ext_ramdisk_size, u32
    public const int ExtCmdLinePtrOffset = 0x0C8;        // ext_cmd_line_ptr, u32
    public const int EfiInfoOffset = 0x1C0;              // efi_info, struct efi_info (0x20 bytes)
    public const int EfiInfoSize = 0x20;
    public const int E820EntriesOffset = 0x1E8;          // e820_entries, u8
    public const int SentinelOffset = 0x1EF;             // sentinel, u8: must stay 0 (sanitize_boot_params)
    public const int E820TableOffset = 0x2D0;            // e820_table[E820_MAX_ENTRIES_ZEROPAGE]
    public const int E820TableEntries = 128;             // E820_MAX_ENTRIES_ZEROPAGE

    /// <summary>type_of_loader: boot.rst assigns loader ID 0xD to kexec-tools; the kernel only reports it.</summary>
    public const byte KexecLoaderType = 0xD0;

    /// <summary>Where the command line starts in the segment.</summary>
    public const int CommandLineOffset = Size;

    // struct setup_data (bootparam.h): {u64 next; u32 type; u32 len; u8 data[]}.
    private const int SetupDataNextOffset = 0;
    private const int SetupDataTypeOffset = 8;
    private const int SetupDataLenOffset = 12;
    private const int SetupDataHeaderSize = 16;
    private const uint SetupE820Ext = 1;                 // SETUP_E820_EXT

    /// <summary>
    /// Builds the segment for physical address <paramref name="segmentAddress"/>.
    /// <paramref name="running"/> is the running kernel's /sys/kernel/boot_params/data, when readable:
    /// screen_info (so the console stays as firmware set it up), hardware_subarch and acpi_rsdp_addr
    /// come from it, as kexec-tools does (kexec/arch/i386/x86-linux-setup.c).
    /// efi_info stays zero: handing over EFI would need the runtime map (/sys/firmware/efi/runtime-map)
    /// passed as efi_memmap plus a SETUP_EFI node, because SetVirtualAddressMap can only be called
    /// once per boot. Without it the next kernel runs with no EFI runtime services (no efivars,
    /// no EFI reboot) and finds ACPI through acpi_rsdp_addr instead of the EFI system table.
    /// </summary>
    public static byte[] Build(BzImage kernel, ulong segmentAddress, string commandLine, PhysicalRange? initrd, E820Map map, ReadOnlySpan<byte> running)
    {
        byte[] cmdline = Encoding.UTF8.GetBytes(commandLine);
        if (cmdline.Length > kernel.MaxCommandLineLength)
            throw new KexecException($"command line is {cmdline.Length} bytes; {kernel.Name} accepts at most {kernel.MaxCommandLineLength} (cmdline_size)");
        if (cmdline.Contains((byte)0))
            throw new KexecException("command line contains a NUL byte");
        int extCount = Math.Max(0, map.Entries.Count - E820TableEntries);
        int setupDataOffset = (int)BzImage.AlignUp((ulong)(CommandLineOffset + cmdline.Length + 1), 8);
        int length = extCount > 0 ? setupDataOffset + SetupDataHeaderSize + extCount * E820Entry.Size : CommandLineOffset + cmdline.Length + 1;
        byte[] segment = new byte[length];
        Span<byte> p = segment.AsSpan(0, Size);

        // The header exactly as the image has it, nothing before it: boot.rst says to copy
        // 0x1F1 .. 0x202 + jump offset, and a non-zero sentinel makes the kernel wipe fields.
        kernel.SetupHeaderBytes.Span.CopyTo(p[SetupHeader.Start..]);
        p[SetupHeader.TypeOfLoaderOffset] = KexecLoaderType;
        // loadflags: the 64-bit entry ignores LOADED_HIGH/CAN_USE_HEAP; clear them as kexec-tools and
        // kexec_file (arch/x86/kernel/kexec-bzimage64.c) do, so no 16-bit heap_end_ptr is trusted.
        p[SetupHeader.LoadFlagsOffset] = 0;

        if (running.Length >= Size)
        {
            running[ScreenInfoOffset..ScreenInfoSize].CopyTo(p);
            // The old kernel's command-line pointer in the pre-2.02 protocol must not leak into ours.
            BinaryPrimitives.WriteUInt16LittleEndian(p[ClMagicOffset..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(p[ClOffsetOffset..], 0);
            running.Slice(SetupHeader.HardwareSubarchOffset, 4).CopyTo(p[SetupHeader.HardwareSubarchOffset..]);
            running.Slice(AcpiRsdpAddrOffset, 8).CopyTo(p[AcpiRsdpAddrOffset..]);
        }
        p[EfiInfoOffset..(EfiInfoOffset + EfiInfoSize)].Clear();
        p[SentinelOffset] = 0;

        ulong cmdlineAddress = segmentAddress + CommandLineOffset;
        WriteSplit(p, SetupHeader.CmdLinePtrOffset, ExtCmdLinePtrOffset, cmdlineAddress);
        cmdline.CopyTo(segment.AsSpan(CommandLineOffset));

        WriteSplit(p, SetupHeader.RamdiskImageOffset, ExtRamdiskImageOffset, initrd?.Start.Value ?? 0);
        WriteSplit(p, SetupHeader.RamdiskSizeOffset, ExtRamdiskSizeOffset, initrd?.Length ?? 0);

        int inTable = Math.Min(map.Entries.Count, E820TableEntries);
        p[E820EntriesOffset] = (byte)inTable;
        for (int i = 0; i < inTable; i++)
            map.Entries[i].Write(p[(E820TableOffset + i * E820Entry.Size)..]);

        ulong setupData = 0;
        if (extCount > 0)
        {
            Span<byte> node = segment.AsSpan(setupDataOffset);
            BinaryPrimitives.WriteUInt64LittleEndian(node[SetupDataNextOffset..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(node[SetupDataTypeOffset..], SetupE820Ext);
            BinaryPrimitives.WriteUInt32LittleEndian(node[SetupDataLenOffset..], (uint)(extCount * E820Entry.Size));
            for (int i = 0; i < extCount; i++)
                map.Entries[E820TableEntries + i].Write(node[(SetupDataHeaderSize + i * E820Entry.Size)..]);
            setupData = segmentAddress + (ulong)setupDataOffset;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(p[SetupHeader.SetupDataOffset..], setupData);
        return segment;
    }

    /// <summary>A 64-bit value split into a 32-bit header field and its ext_ field (the high half).</summary>
    private static void WriteSplit(Span<byte> p, int lowOffset, int highOffset, ulong value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(p[lowOffset..], (uint)value);
        BinaryPrimitives.WriteUInt32LittleEndian(p[highOffset..], (uint)(value >> 32));
    }
}
