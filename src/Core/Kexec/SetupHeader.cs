using System.Buffers.Binary;

namespace KdumpSharp.Kexec;

/// <summary>
/// The x86 real-mode setup header (<c>struct setup_header</c>, arch/x86/include/uapi/asm/bootparam.h;
/// Documentation/x86/boot.rst). It sits at the same offset in the bzImage file and in
/// <c>struct boot_params</c> (the zero page), so every offset below is both a file offset and a
/// boot_params offset.
/// </summary>
public readonly struct SetupHeader
{
    public const int Start = 0x1F1;                    // hdr: first field of struct setup_header
    public const int SetupSectsOffset = 0x1F1;         // setup_sects, u8 (0 means 4)
    public const int BootFlagOffset = 0x1FE;           // boot_flag, u16 = 0xAA55
    public const int JumpOffset = 0x200;               // jump, u16 (EB xx); xx + 0x202 = header end
    public const int MagicOffset = 0x202;              // header, u32 = "HdrS"
    public const int VersionOffset = 0x206;            // version, u16 (major << 8 | minor)
    public const int TypeOfLoaderOffset = 0x210;       // type_of_loader, u8
    public const int LoadFlagsOffset = 0x211;          // loadflags, u8
    public const int RamdiskImageOffset = 0x218;       // ramdisk_image, u32 (low 32 bits)
    public const int RamdiskSizeOffset = 0x21C;        // ramdisk_size, u32 (low 32 bits)
    public const int CmdLinePtrOffset = 0x228;         // cmd_line_ptr, u32 (low 32 bits)
    public const int InitrdAddrMaxOffset = 0x22C;      // initrd_addr_max, u32
    public const int KernelAlignmentOffset = 0x230;    // kernel_alignment, u32
    public const int RelocatableOffset = 0x234;        // relocatable_kernel, u8
    public const int MinAlignmentOffset = 0x235;       // min_alignment, u8 (log2)
    public const int XLoadFlagsOffset = 0x236;         // xloadflags, u16
    public const int CmdlineSizeOffset = 0x238;        // cmdline_size, u32 (excluding the NUL)
    public const int HardwareSubarchOffset = 0x23C;    // hardware_subarch, u32
    public const int PayloadOffsetOffset = 0x248;      // payload_offset, u32 (from the protected-mode start)
    public const int PayloadLengthOffset = 0x24C;      // payload_length, u32
    public const int SetupDataOffset = 0x250;          // setup_data, u64 (physical pointer to a chain)
    public const int PrefAddressOffset = 0x258;        // pref_address, u64
    public const int InitSizeOffset = 0x260;           // init_size, u32

    /// <summary>Bytes a header must have for every field above (init_size ends at 0x264).</summary>
    public const int MinimumLength = InitSizeOffset + 4;

    /// <summary>Where boot_params' own fields resume after the header (edd_mbr_sig_buffer, bootparam.h).</summary>
    public const int BootParamsLimit = 0x290;

    public const ushort BootFlagMagic = 0xAA55;
    public const uint HdrSMagic = 0x53726448;          // "HdrS" little-endian

    /// <summary>Boot protocol 2.12 added xloadflags, which is how a 64-bit entry is advertised.</summary>
    public const ushort MinimumVersion = 0x020C;

    /// <summary>loadflags bit 0: protected-mode code is loaded at 0x100000 or above (LOADED_HIGH).</summary>
    public const byte LoadedHigh = 0x01;

    public SetupHeader(ReadOnlySpan<byte> image)
    {
        byte sects = image[SetupSectsOffset];
        SetupSectors = sects == 0 ? 4 : sects;
        BootFlag = BinaryPrimitives.ReadUInt16LittleEndian(image[BootFlagOffset..]);
        HeaderEnd = MagicOffset + image[JumpOffset + 1];
        Magic = BinaryPrimitives.ReadUInt32LittleEndian(image[MagicOffset..]);
        Version = BinaryPrimitives.ReadUInt16LittleEndian(image[VersionOffset..]);
        LoadFlags = image[LoadFlagsOffset];
        InitrdAddressMax = BinaryPrimitives.ReadUInt32LittleEndian(image[InitrdAddrMaxOffset..]);
        KernelAlignment = BinaryPrimitives.ReadUInt32LittleEndian(image[KernelAlignmentOffset..]);
        Relocatable = image[RelocatableOffset] != 0;
        XLoadFlags = (XLoadFlags)BinaryPrimitives.ReadUInt16LittleEndian(image[XLoadFlagsOffset..]);
        CommandLineSize = BinaryPrimitives.ReadUInt32LittleEndian(image[CmdlineSizeOffset..]);
        PayloadOffset = BinaryPrimitives.ReadUInt32LittleEndian(image[PayloadOffsetOffset..]);
        PayloadLength = BinaryPrimitives.ReadUInt32LittleEndian(image[PayloadLengthOffset..]);
        PreferredAddress = BinaryPrimitives.ReadUInt64LittleEndian(image[PrefAddressOffset..]);
        InitSize = BinaryPrimitives.ReadUInt32LittleEndian(image[InitSizeOffset..]);
    }

    /// <summary>setup_sects with the legacy 0 → 4 rule applied: 512-byte sectors of real-mode setup after the boot sector.</summary>
    public int SetupSectors { get; }

    /// <summary>boot_flag.</summary>
    public ushort BootFlag { get; }

    /// <summary>First byte after the header (0x202 + the jump's displacement); boot.rst: copy the header up to here.</summary>
    public int HeaderEnd { get; }

    /// <summary>header ("HdrS").</summary>
    public uint Magic { get; }

    /// <summary>version: boot protocol, e.g. 0x020F for 2.15.</summary>
    public ushort Version { get; }

    /// <summary>loadflags.</summary>
    public byte LoadFlags { get; }

    /// <summary>initrd_addr_max: highest byte the initrd may occupy when loaded through the 32-bit fields.</summary>
    public uint InitrdAddressMax { get; }

    /// <summary>kernel_alignment (CONFIG_PHYSICAL_ALIGN, 2 MiB on Debian).</summary>
    public uint KernelAlignment { get; }

    /// <summary>relocatable_kernel.</summary>
    public bool Relocatable { get; }

    /// <summary>xloadflags.</summary>
    public XLoadFlags XLoadFlags { get; }

    /// <summary>cmdline_size: the longest command line, excluding the terminating NUL.</summary>
    public uint CommandLineSize { get; }

    /// <summary>payload_offset: the compressed kernel, from the start of the protected-mode code.</summary>
    public uint PayloadOffset { get; }

    /// <summary>payload_length.</summary>
    public uint PayloadLength { get; }

    /// <summary>pref_address (LOAD_PHYSICAL_ADDR, 16 MiB on Debian).</summary>
    public ulong PreferredAddress { get; }

    /// <summary>init_size: bytes from the load address the kernel needs until it has relocated itself.</summary>
    public uint InitSize { get; }
}

/// <summary>xloadflags bits (arch/x86/include/uapi/asm/bootparam.h).</summary>
[Flags]
public enum XLoadFlags : ushort
{
    None = 0,
    Kernel64 = 0x01,               // XLF_KERNEL_64: 64-bit entry at load address + 0x200
    CanBeLoadedAbove4G = 0x02,     // XLF_CAN_BE_LOADED_ABOVE_4G
    EfiHandover32 = 0x04,          // XLF_EFI_HANDOVER_32
    EfiHandover64 = 0x08,          // XLF_EFI_HANDOVER_64
    EfiKexec = 0x10,               // XLF_EFI_KEXEC: can reuse the EFI runtime map across kexec
    FiveLevel = 0x20,              // XLF_5LEVEL
    FiveLevelEnabled = 0x40,       // XLF_5LEVEL_ENABLED
}
