using KdumpSharp.Interop;

namespace KdumpSharp.Initramfs;

/// <summary>
/// The kernel modules a block device depends on, read from sysfs the way dracut's host-only mode
/// does: from /sys/class/block/&lt;name&gt; (a partition goes to its disk) up the device tree, each
/// device's <c>driver</c> link names its driver, and the driver's <c>module</c> link names the
/// module that provides it (drivers/base/module.c makes that link; a built-in driver has none).
/// </summary>
public static class BlockDeviceDrivers
{
    /// <param name="sysRoot">The sysfs mount, "/sys" on this machine; a directory tree in tests.</param>
    /// <param name="device">A block device name ("vdb", "sda1") or its /dev path.</param>
    /// <returns>Module names, the device's own driver first, then its parents' (for virtio: virtio_blk, virtio_pci).</returns>
    /// <exception cref="KernelModuleNotFoundException">sysfs has no such block device.</exception>
    public static IReadOnlyList<string> ModulesFor(string sysRoot, string device)
    {
        string name = Path.GetFileName(device);
        string root = LibC.ResolvePath(sysRoot) ?? sysRoot;
        string? node = LibC.ResolvePath(Path.Combine(root, "class", "block", name))
            ?? throw new KernelModuleNotFoundException(name, Path.Combine(sysRoot, "class", "block"), "no such block device in sysfs");
        // A partition's directory sits inside its disk's (block/sda/sda1) and has no device link.
        if (File.Exists(Path.Combine(node, "partition")))
            node = Path.GetDirectoryName(node)!;

        var modules = new List<string>();
        string? current = LibC.ResolvePath(Path.Combine(node, "device"));
        string devices = Path.Combine(root, "devices");
        for (int depth = 0; current is not null && current.StartsWith(devices, StringComparison.Ordinal) && depth < 64; depth++)
        {
            if (LibC.ResolvePath(Path.Combine(current, "driver")) is string driver
                && LibC.ResolvePath(Path.Combine(driver, "module")) is string module)
            {
                string moduleName = KernelModuleResolver.NormalizeName(module);
                if (!modules.Contains(moduleName))
                    modules.Add(moduleName);
            }
            current = Path.GetDirectoryName(current);
        }
        return modules;
    }

    /// <summary>
    /// The modules a file system needs beyond its modules.dep closure. ext4 and jbd2 ask the crypto
    /// API for "crc32c" (fs/ext4/super.c, fs/jbd2/journal.c), which would load crc32c_generic through
    /// request_module, that is /sbin/modprobe, which the crash image does not have.
    /// </summary>
    public static IReadOnlyList<string> ModulesForFileSystem(string fileSystem) => fileSystem switch
    {
        "ext4" or "ext3" or "ext2" => ["ext4", "crc32c_generic"],
        "xfs" => ["xfs", "crc32c_generic"],
        "btrfs" => ["btrfs", "crc32c_generic"],
        _ => [fileSystem],
    };
}
