using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.CrashEnvironment;

/// <summary>
/// The fields of an ext2/3/4 superblock that name a file system: <c>struct ext4_super_block</c>
/// (fs/ext4/ext4.h), 1024 bytes into the device.
/// </summary>
public readonly struct Ext4Superblock
{
    /// <summary>The superblock's offset on the device.</summary>
    public const int DeviceOffset = 1024;

    private const int MagicOffset = 0x38;        // s_magic, le16
    private const int UuidOffset = 0x68;         // s_uuid[16]
    private const int VolumeNameOffset = 0x78;   // s_volume_name[16] (EXT4_LABEL_MAX)
    private const int VolumeNameLength = 16;

    /// <summary>Bytes to read from <see cref="DeviceOffset"/>.</summary>
    public const int Size = VolumeNameOffset + VolumeNameLength;

    /// <summary>EXT4_SUPER_MAGIC.</summary>
    public const ushort Magic = 0xEF53;

    private Ext4Superblock(Guid uuid, string label)
    {
        Uuid = uuid;
        Label = label;
    }

    /// <summary>s_uuid, as blkid prints it.</summary>
    public Guid Uuid { get; }

    /// <summary>s_volume_name up to its first NUL.</summary>
    public string Label { get; }

    /// <summary>Parses the superblock, or returns false when the bytes are short or lack the magic.</summary>
    public static bool TryRead(ReadOnlySpan<byte> superblock, out Ext4Superblock result)
    {
        result = default;
        if (superblock.Length < Size || BinaryPrimitives.ReadUInt16LittleEndian(superblock[MagicOffset..]) != Magic)
            return false;
        // s_uuid is a byte string; Guid's byte-array constructor swaps the first three groups, the big-endian one does not.
        var uuid = new Guid(superblock.Slice(UuidOffset, 16), bigEndian: true);
        ReadOnlySpan<byte> name = superblock.Slice(VolumeNameOffset, VolumeNameLength);
        int nul = name.IndexOf((byte)0);
        result = new Ext4Superblock(uuid, Encoding.UTF8.GetString(nul >= 0 ? name[..nul] : name));
        return true;
    }

    /// <summary>
    /// Whether the device at <paramref name="devicePath"/> holds the ext2/3/4 file system that
    /// <paramref name="target"/> (UUID=… or LABEL=…) names; false when it cannot be read.
    /// </summary>
    public static bool Identifies(string devicePath, string target)
    {
        if (!File.Exists(devicePath))
            return false;
        Span<byte> bytes = stackalloc byte[Size];
        try
        {
            using var handle = File.OpenHandle(devicePath);
            if (RandomAccess.Read(handle, bytes, DeviceOffset) < bytes.Length)
                return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        if (!TryRead(bytes, out Ext4Superblock superblock))
            return false;
        if (target.StartsWith("UUID=", StringComparison.Ordinal))
            return Guid.TryParse(target["UUID=".Length..], out Guid uuid) && uuid == superblock.Uuid;
        return target.StartsWith("LABEL=", StringComparison.Ordinal) && superblock.Label == target["LABEL=".Length..];
    }
}
