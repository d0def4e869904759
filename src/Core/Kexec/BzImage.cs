using System.Buffers.Binary;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// A bzImage checked for the 64-bit boot protocol (Documentation/x86/boot.rst): real-mode setup
/// (boot sector + setup_sects sectors) followed by the protected-mode kernel, whose 64-bit entry is
/// at load address + 0x200 (arch/x86/boot/compressed/head_64.S, "ABI and immutable").
/// </summary>
public sealed class BzImage
{
    /// <summary>startup_64 sits 0x200 bytes into the protected-mode kernel (head_64.S).</summary>
    public const ulong Entry64Offset = 0x200;

    private const int SectorSize = 512;

    /// <summary>A kernel larger than this is not a kernel; bounds the allocation a bad header can ask for.</summary>
    private const uint MaxInitSize = 1u << 30;

    private readonly ReadOnlyMemory<byte> _image;

    private BzImage(string name, ReadOnlyMemory<byte> image, SetupHeader header)
    {
        Name = name;
        _image = image;
        Header = header;
    }

    /// <summary>The file name, for messages.</summary>
    public string Name { get; }

    public SetupHeader Header { get; }

    /// <summary>Bytes of the file that make up the setup header, to copy into boot_params at <see cref="SetupHeader.Start"/>.</summary>
    public ReadOnlyMemory<byte> SetupHeaderBytes => _image[SetupHeader.Start..Header.HeaderEnd];

    /// <summary>File offset of the protected-mode kernel: (setup_sects + 1) × 512.</summary>
    public int KernelOffset => (Header.SetupSectors + 1) * SectorSize;

    /// <summary>The protected-mode kernel: the kexec segment's buffer.</summary>
    public ReadOnlyMemory<byte> Kernel => _image[KernelOffset..];

    /// <summary>
    /// Memory the kernel segment must reserve: init_size rounded up to a page. The decompressor
    /// works in place inside [load, load + init_size) (arch/x86/boot/header.S computes init_size
    /// for exactly that), so anything placed there would be overwritten.
    /// </summary>
    public ulong KernelMemorySize => AlignUp(Math.Max(Header.InitSize, (ulong)Kernel.Length), PageFrameNumber.PageSize);

    /// <summary>Alignment of the load address: kernel_alignment (startup_64 rounds the run address up to it).</summary>
    public ulong Alignment => Header.KernelAlignment;

    /// <summary>
    /// Lowest address to load at: pref_address. startup_64 falls back to LOAD_PHYSICAL_ADDR when
    /// started lower, decompressing over memory the loader never reserved.
    /// </summary>
    public ulong MinimumLoadAddress => Math.Max(Header.PreferredAddress, 1UL << 20);

    /// <summary>Longest command line the kernel accepts, excluding the NUL (cmdline_size).</summary>
    public int MaxCommandLineLength => (int)Math.Min(Header.CommandLineSize, int.MaxValue);

    /// <summary>
    /// MAX_ELFCOREHDR_STR_LEN, arch/x86/kernel/kexec-bzimage64.c: bzImage64_load refuses with
    /// EINVAL when cmdline_len (with its NUL) plus this exceeds cmdline_size, for every load, to
    /// leave room for the " elfcorehdr=0x...". Same in 6.1 and 6.12.
    /// </summary>
    public const int ElfCoreHeaderReserve = 30;

    /// <summary>The longest command line kexec_file_load takes for this image, in bytes, without the NUL.</summary>
    public int MaxFileLoadCommandLine => (int)Math.Max(0, Math.Min(Header.CommandLineSize, int.MaxValue) - ElfCoreHeaderReserve - 1);

    /// <summary>Reads and parses the bzImage at <paramref name="path"/>.</summary>
    public static BzImage Read(string path) => Parse(path, File.ReadAllBytes(path));

    /// <summary>Parses and checks <paramref name="image"/>; throws <see cref="BzImageFormatException"/> with one line.</summary>
    public static BzImage Parse(string name, ReadOnlyMemory<byte> image)
    {
        ReadOnlySpan<byte> b = image.Span;
        if (b.Length < SetupHeader.MinimumLength)
            throw Fail(name, b.Length >= 4 && IsElf(b) ? BzImageProblem.NotBzImage : BzImageProblem.Truncated,
                b.Length >= 4 && IsElf(b) ? NotBzImageDetail(b) : $"{b.Length} bytes is too short for a bzImage setup header ({SetupHeader.MinimumLength} needed)");
        var header = new SetupHeader(b);
        if (header.BootFlag != SetupHeader.BootFlagMagic || header.Magic != SetupHeader.HdrSMagic)
            throw Fail(name, BzImageProblem.NotBzImage, NotBzImageDetail(b));
        if (header.Version < SetupHeader.MinimumVersion)
            throw Fail(name, BzImageProblem.ProtocolTooOld,
                $"boot protocol {header.Version >> 8}.{header.Version & 0xff:D2} is older than 2.12; kexec needs a 64-bit bzImage (Linux 3.8 or later)");
        if (header.HeaderEnd > SetupHeader.BootParamsLimit || header.HeaderEnd < SetupHeader.MinimumLength)
            throw Fail(name, BzImageProblem.Corrupt, $"setup header claims to end at 0x{header.HeaderEnd:x}, outside 0x{SetupHeader.MinimumLength:x}..0x{SetupHeader.BootParamsLimit:x}");
        if ((header.LoadFlags & SetupHeader.LoadedHigh) == 0 || !header.Relocatable)
            throw Fail(name, BzImageProblem.NotRelocatable, "not a relocatable kernel loaded high (loadflags LOADED_HIGH or relocatable_kernel clear)");
        if ((header.XLoadFlags & XLoadFlags.Kernel64) == 0)
            throw Fail(name, BzImageProblem.Not64Bit, "not a 64-bit kernel (xloadflags has no XLF_KERNEL_64)");
        if ((header.XLoadFlags & XLoadFlags.CanBeLoadedAbove4G) == 0)
            throw Fail(name, BzImageProblem.CannotLoadAbove4G, "kernel cannot be loaded above 4 GiB (xloadflags has no XLF_CAN_BE_LOADED_ABOVE_4G)");
        if (header.KernelAlignment < PageFrameNumber.PageSize || !ulong.IsPow2(header.KernelAlignment))
            throw Fail(name, BzImageProblem.Corrupt, $"kernel_alignment 0x{header.KernelAlignment:x} is not a power of two of at least a page");
        if (header.InitSize == 0 || header.InitSize > MaxInitSize)
            throw Fail(name, BzImageProblem.Corrupt, $"init_size 0x{header.InitSize:x} is not a plausible kernel size");
        if (header.PreferredAddress % header.KernelAlignment != 0 || header.PreferredAddress > (1UL << 46))
            throw Fail(name, BzImageProblem.Corrupt, $"pref_address 0x{header.PreferredAddress:x} is not aligned to kernel_alignment 0x{header.KernelAlignment:x}");
        long kernelOffset = (header.SetupSectors + 1L) * SectorSize;
        if (b.Length <= kernelOffset + (long)Entry64Offset)
            throw Fail(name, BzImageProblem.Truncated, $"file ends at 0x{b.Length:x}, before the 64-bit entry at 0x{kernelOffset + (long)Entry64Offset:x}");
        if ((ulong)(b.Length - kernelOffset) > header.InitSize)
            throw Fail(name, BzImageProblem.Corrupt, $"protected-mode kernel (0x{b.Length - kernelOffset:x} bytes) is larger than init_size 0x{header.InitSize:x}");
        return new BzImage(name, image, header);
    }

    private static bool IsElf(ReadOnlySpan<byte> b) => b[..4].SequenceEqual(KdumpSharp.Elf.Elf64Header.Magic);

    private static string NotBzImageDetail(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 4 && IsElf(b))
            return "an ELF file (a vmlinux?), not a bzImage; use the vmlinuz from /boot";
        if (b.Length >= 2 && b[0] == 0x1f && b[1] == 0x8b)
            return "a gzip file, not a bzImage";
        if (b.Length >= 6 && BinaryPrimitives.ReadUInt32LittleEndian(b) == 0x37303730)
            return "a cpio archive (an initramfs?), not a bzImage";
        return "not a bzImage (no 0xAA55 boot flag and \"HdrS\" setup header)";
    }

    private static BzImageFormatException Fail(string name, BzImageProblem problem, string detail) => new(name, problem, detail);

    internal static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}
