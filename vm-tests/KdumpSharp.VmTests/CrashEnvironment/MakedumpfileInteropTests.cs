using System.Text;
using KdumpSharp.Analyzer;
using KdumpSharp.Dumps;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Analyzer;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.CrashEnvironment;

/// <summary>
/// The peer in the same seat: makedumpfile runs in the crash kernel (a test-only initramfs with
/// busybox, makedumpfile and their libraries, composed with the product's resolvers), writes a
/// kdump-compressed dump onto an ext4 disk, and kds-analyzer reads that dump.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class MakedumpfileInteropTests(TestKernel kernel)
{
    /// <summary>
    /// /init of the makedumpfile crash image (makedumpfile keeps VMCOREINFO in /tmp), with
    /// guest-lib.sh's functions; a failed step prints KDS-FAIL, which the scenario reports.
    /// makedumpfile 1.7.2 cannot classify 6.12's pages, so -d 31 falls back to -d 1 there, as the
    /// harness does on the host (DumpGenerator).
    /// </summary>
    private const string InitScript = """
        #!/bin/sh
        export PATH=/bin
        . /guest-lib.sh
        mount_kernel_filesystems
        load_modules
        wait_for_disks /dev/vdb
        mkdir -p /mnt /tmp
        mount -t ext4 /dev/vdb /mnt || fail "mount /dev/vdb"
        if makedumpfile -c -d 31 /proc/vmcore /mnt/vmcore; then echo "KDS-MDF-LEVEL 31"
        elif rm -f /mnt/vmcore && makedumpfile -c -d 1 /proc/vmcore /mnt/vmcore; then echo "KDS-MDF-LEVEL 1"
        else fail "makedumpfile"; fi
        umount /mnt
        sync
        poweroff -f
        """;

    private static readonly string[] Applets = ["sh", "mount", "umount", "insmod", "mkdir", "rm", "sleep", "sync", "poweroff"];

    [Test]
    public void Makedumpfile_in_the_crash_kernel_writes_a_dump_the_analyzer_reads()
    {
        string directory = CrashScenario.WorkDirectory("makedumpfile", kernel);
        string disk = CrashScenario.CreateDisk(Path.Combine(directory, "target.img"), 512);
        CrashScenario.Tool("mkfs.ext4", directory, "-q", "-F", "-L", "kdscrash", disk);

        string initramfs = Path.Combine(directory, "makedumpfile-initramfs.gz");
        BuildInitramfs(initramfs);
        QemuRun run = CrashScenario.RunWithCrashInitramfs(kernel, directory, initramfs, disk, out string marker);

        ConsoleLine level = run.Find("KDS-MDF-LEVEL ") ?? throw new AssertionException(run.Describe("makedumpfile did not finish"));
        TestContext.Out.WriteLine($"{kernel}: makedumpfile wrote the dump at {level.Text}");
        string vmcore = Path.Combine(directory, "vmcore");
        CrashScenario.Tool("debugfs", directory, "-R", $"dump /vmcore {vmcore}", disk);

        using (IDumpReader reader = DumpFile.Open(vmcore))
            Assert.That(reader.Properties.Format, Is.EqualTo(DumpFormat.KdumpCompressed));
        (int code, byte[] dmesg, string error) = AnalyzerCliTests.Run("dmesg", vmcore);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(Encoding.UTF8.GetString(dmesg), Does.Contain(marker));
    }

    private void BuildInitramfs(string path)
    {
        KernelModuleClosure modules = new KernelModuleResolver(kernel.ModulesDirectory)
            .Resolve(["virtio_blk", "virtio_pci", .. BlockDeviceDrivers.ModulesForFileSystem("ext4")]);
        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip);
        BusyboxInitramfs.AddInit(writer, InitScript.Replace("\r", "") + "\n");
        var resolver = new SharedLibraryResolver();
        // The executables go to /bin, the one PATH entry; libraries stay where the loader looks.
        foreach (string executable in new[] { "/bin/busybox", DumpGenerator.Makedumpfile })
            BusyboxInitramfs.AddWithLibraries(writer, resolver, executable, "/bin/" + Path.GetFileName(executable), BusyboxInitramfs.Mode0755);
        BusyboxInitramfs.AddApplets(writer, "bin", Applets);
        BusyboxInitramfs.AddModules(writer, kernel, modules);
    }
}
