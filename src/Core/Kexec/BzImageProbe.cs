using System.Buffers.Binary;

namespace KdumpSharp.Kexec;

/// <summary>
/// The few setup-header fields the loader checks before calling kexec_file_load: the "HdrS"
/// magic, the boot protocol version and cmdline_size (Documentation/x86/boot.rst; offsets are
/// those of struct setup_header inside struct boot_params, arch/x86/include/uapi/asm/bootparam.h).
/// The full parser used to build a kexec_load image lives with the classic path.
/// </summary>
public readonly record struct BzImageProbe(ushort Version, uint CommandLineSize)
{
    /// <summary>hdr.header, "HdrS".</summary>
    private const int HeaderMagicOffset = 0x202;
    private const uint HeaderMagic = 0x53726448;

    /// <summary>hdr.version.</summary>
    private const int VersionOffset = 0x206;

    /// <summary>hdr.cmdline_size, present from protocol 2.06.</summary>
    private const int CommandLineSizeOffset = 0x238;

    /// <summary>What the header must hold to read every field above.</summary>
    public const int HeaderBytes = CommandLineSizeOffset + 4;

    /// <summary>Before protocol 2.06 the limit was fixed at 255 characters (boot.rst, "cmdline_size").</summary>
    private const uint LegacyCommandLineSize = 255;

    /// <summary>
    /// MAX_ELFCOREHDR_STR_LEN, arch/x86/kernel/kexec-bzimage64.c: bzImage64_load refuses with
    /// EINVAL when cmdline_len (with its NUL) plus this exceeds cmdline_size, for every load, to
    /// leave room for the " elfcorehdr=0x...". Same in 6.1 and 6.12.
    /// </summary>
    public const int ElfCoreHeaderReserve = 30;

    /// <summary>The longest command line kexec_file_load takes for this image, in bytes, without the NUL.</summary>
    public int MaxFileLoadCommandLine => (int)Math.Max(0, CommandLineSize - ElfCoreHeaderReserve - 1);

    /// <summary>The header of <paramref name="path"/>, or null when the file is not a bzImage (no "HdrS").</summary>
    public static BzImageProbe? Read(string path)
    {
        using FileStream file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[HeaderBytes];
        int read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        return Parse(header[..read]);
    }

    public static BzImageProbe? Parse(ReadOnlySpan<byte> header)
    {
        if (header.Length < VersionOffset + 2
            || BinaryPrimitives.ReadUInt32LittleEndian(header[HeaderMagicOffset..]) != HeaderMagic)
            return null;
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[VersionOffset..]);
        uint size = version >= 0x0206 && header.Length >= HeaderBytes
            ? BinaryPrimitives.ReadUInt32LittleEndian(header[CommandLineSizeOffset..])
            : LegacyCommandLineSize;
        return new BzImageProbe(version, size);
    }
}
