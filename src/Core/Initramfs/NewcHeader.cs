using System.Buffers.Text;
using System.Buffers;

namespace KdumpSharp.Initramfs;

/// <summary>
/// The 110-byte header of one newc ("070701") cpio entry: the magic, then thirteen fields of
/// eight ASCII hex digits each, in the order of the kernel's
/// Documentation/driver-api/early-userspace/buffer-format.rst (parsed by init/initramfs.c parse_header).
/// </summary>
internal readonly struct NewcHeader
{
    private const int MagicLength = 6;
    private const int FieldLength = 8;
    private const int FieldCount = 13;

    /// <summary>Bytes of the header; the name follows, then padding to a multiple of 4.</summary>
    public const int Size = MagicLength + FieldCount * FieldLength;

    /// <summary>"070701": newc without checksums (the kernel also accepts "070702", which we never write).</summary>
    private static ReadOnlySpan<byte> Magic => "070701"u8;

    private static readonly StandardFormat HexField = new('X', FieldLength);

    public NewcHeader(uint inode, uint mode, uint linkCount, uint modificationTime, uint fileSize,
        uint deviceMajor, uint deviceMinor, uint nameSize)
    {
        Inode = inode;
        Mode = mode;
        LinkCount = linkCount;
        ModificationTime = modificationTime;
        FileSize = fileSize;
        DeviceMajor = deviceMajor;
        DeviceMinor = deviceMinor;
        NameSize = nameSize;
    }

    /// <summary>c_ino.</summary>
    public uint Inode { get; }

    /// <summary>c_mode: file type bits (S_IFDIR, S_IFREG…) and permission bits.</summary>
    public uint Mode { get; }

    /// <summary>c_nlink. The kernel treats a regular file with c_nlink ≥ 2 as a hard-link candidate.</summary>
    public uint LinkCount { get; }

    /// <summary>c_mtime, seconds since the epoch.</summary>
    public uint ModificationTime { get; }

    /// <summary>c_filesize: bytes of data (for a symlink, of the target).</summary>
    public uint FileSize { get; }

    /// <summary>c_rdevmajor, for character and block devices.</summary>
    public uint DeviceMajor { get; }

    /// <summary>c_rdevminor, for character and block devices.</summary>
    public uint DeviceMinor { get; }

    /// <summary>c_namesize, including the terminating NUL.</summary>
    public uint NameSize { get; }

    /// <summary>
    /// Writes the header. c_uid, c_gid, c_devmajor, c_devminor and c_check are written as zero:
    /// everything in an initramfs belongs to root, the kernel ignores the containing device, and
    /// "070701" has no checksum.
    /// </summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"a newc header needs {Size} bytes", nameof(destination));
        Magic.CopyTo(destination);
        Span<byte> fields = destination[MagicLength..Size];
        ReadOnlySpan<uint> values =
        [
            Inode, Mode, 0 /* c_uid */, 0 /* c_gid */, LinkCount, ModificationTime, FileSize,
            0 /* c_devmajor */, 0 /* c_devminor */, DeviceMajor, DeviceMinor, NameSize, 0 /* c_check */,
        ];
        for (int i = 0; i < FieldCount; i++)
        {
            // Upper-case hex, as the kernel's usr/gen_init_cpio.c writes it; parse_header accepts either case.
            Utf8Formatter.TryFormat(values[i], fields.Slice(i * FieldLength, FieldLength), out _, HexField);
        }
    }
}
