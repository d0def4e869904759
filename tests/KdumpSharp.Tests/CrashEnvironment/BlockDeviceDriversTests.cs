using KdumpSharp.Initramfs;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.CrashEnvironment;

public sealed class BlockDeviceDriversTests
{
    /// <summary>
    /// The links sysfs has for a virtio disk on QEMU's pc machine: the block device's device is the
    /// virtio device (driver virtio_blk), whose parent is the PCI function (driver virtio-pci,
    /// module virtio_pci), whose parent is the PCI root with no driver.
    /// </summary>
    private static TempDirectory FakeSysfs(bool builtInPci = false)
    {
        var sys = new TempDirectory();
        string pci = sys["devices/pci0000:00/0000:00:05.0"];
        string virtio = Path.Combine(pci, "virtio2");
        Directory.CreateDirectory(Path.Combine(virtio, "block/vdb/vdb1"));
        File.WriteAllText(Path.Combine(virtio, "block/vdb/vdb1/partition"), "1\n");
        Directory.CreateDirectory(sys["class/block"]);
        File.CreateSymbolicLink(sys["class/block/vdb"], "../../devices/pci0000:00/0000:00:05.0/virtio2/block/vdb");
        File.CreateSymbolicLink(sys["class/block/vdb1"], "../../devices/pci0000:00/0000:00:05.0/virtio2/block/vdb/vdb1");
        File.CreateSymbolicLink(Path.Combine(virtio, "block/vdb/device"), "../../../virtio2");

        Directory.CreateDirectory(sys["bus/virtio/drivers/virtio_blk"]);
        Directory.CreateDirectory(sys["bus/pci/drivers/virtio-pci"]);
        Directory.CreateDirectory(sys["module/virtio_blk"]);
        Directory.CreateDirectory(sys["module/virtio_pci"]);
        File.CreateSymbolicLink(sys["bus/virtio/drivers/virtio_blk/module"], "../../../../module/virtio_blk");
        if (!builtInPci)
            File.CreateSymbolicLink(sys["bus/pci/drivers/virtio-pci/module"], "../../../../module/virtio_pci");
        File.CreateSymbolicLink(Path.Combine(virtio, "driver"), "../../../../bus/virtio/drivers/virtio_blk");
        File.CreateSymbolicLink(Path.Combine(pci, "driver"), "../../../bus/pci/drivers/virtio-pci");
        return sys;
    }

    [TestCase("vdb")]
    [TestCase("/dev/vdb1")]
    public void WalksFromTheDiskUpThroughEachDriversModule(string device)
    {
        using TempDirectory sys = FakeSysfs();
        Assert.That(BlockDeviceDrivers.ModulesFor(sys.Path, device), Is.EqualTo(new[] { "virtio_blk", "virtio_pci" }));
    }

    [Test]
    public void ABuiltInDriverNeedsNoModule()
    {
        using TempDirectory sys = FakeSysfs(builtInPci: true);
        Assert.That(BlockDeviceDrivers.ModulesFor(sys.Path, "vdb"), Is.EqualTo(new[] { "virtio_blk" }));
    }

    [Test]
    public void AnUnknownDeviceIsNamed()
    {
        using TempDirectory sys = FakeSysfs();
        var e = Assert.Throws<KernelModuleNotFoundException>(() => BlockDeviceDrivers.ModulesFor(sys.Path, "sdz"));
        Assert.That(e!.Message, Does.Contain("module sdz: no such block device in sysfs"));
    }

    [Test]
    public void Ext4BringsTheCrc32cItsChecksumsAskTheCryptoApiFor()
    {
        Assert.That(BlockDeviceDrivers.ModulesForFileSystem("ext4"), Is.EqualTo(new[] { "ext4", "crc32c_generic" }));
    }
}
