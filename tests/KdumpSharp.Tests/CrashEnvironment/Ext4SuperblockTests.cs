using KdumpSharp.CrashEnvironment;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.CrashEnvironment;

public sealed class Ext4SuperblockTests
{
    /// <summary>mkfs.ext4 is the oracle for where s_uuid and s_volume_name sit.</summary>
    [Test]
    public void ReadsTheUuidAndLabelMkfsWrote()
    {
        using var dir = new TempDirectory();
        string image = dir["fs.img"];
        using (var file = File.Create(image))
            file.SetLength(8 << 20);
        HostCommand.RunChecked("mkfs.ext4", ["-q", "-F", "-U", "0d9a1d4c-5b3e-4f7a-9c1e-2b6f0e8a7d31", "-L", "kds-crash", image]);

        byte[] bytes = new byte[Ext4Superblock.Size];
        using (var file = File.OpenRead(image))
        {
            file.Position = Ext4Superblock.DeviceOffset;
            file.ReadExactly(bytes);
        }

        Assert.That(Ext4Superblock.TryRead(bytes, out Ext4Superblock superblock), Is.True);
        Assert.That(superblock.Uuid, Is.EqualTo(Guid.Parse("0d9a1d4c-5b3e-4f7a-9c1e-2b6f0e8a7d31")));
        Assert.That(superblock.Label, Is.EqualTo("kds-crash"));
    }

    [Test]
    public void NoMagicOrTooShortIsNotASuperblock()
    {
        Assert.That(Ext4Superblock.TryRead(new byte[Ext4Superblock.Size], out _), Is.False);
        Assert.That(Ext4Superblock.TryRead(new byte[10], out _), Is.False);
    }
}
