using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests;

/// <summary>The harness's failure paths: a hung guest is killed, a failing guest is reported with its console, and neither leaves a cache entry.</summary>
public sealed class QemuMachineTests
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void MakeDirectory() => _directory = Directory.CreateTempSubdirectory("kds-qemu-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void AGuestPastTheTimeoutIsKilledAndItsConsoleQuoted()
    {
        TestKernel kernel = TestKernel.Debian61.EnsureInstalled();
        GuestImage.Initramfs image = GuestImage.BuildInitramfs(kernel, Path.Combine(_directory, "timeout.cpio.gz"));
        var options = new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = image.Path,
            // No disks: /init waits for them; the kernel's own boot messages come first.
            CommandLine = "console=ttyS0 panic=-1",
            ConsoleLogPath = Path.Combine(TestContext.CurrentContext.WorkDirectory, "vm-logs", $"timeout-{Guid.NewGuid():n}.console.log"),
            Cpus = 1,
            Timeout = TimeSpan.FromSeconds(8),
        };

        var started = DateTime.UtcNow;
        var e = Assert.Throws<QemuException>(() => QemuMachine.Run(options));

        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(60)));
        Assert.That(e!.Message, Does.StartWith("QEMU killed after the 8 s timeout"));
        Assert.That(e.Message, Does.Contain($"console log: {options.ConsoleLogPath}"));
        Assert.That(e.Message, Does.Contain("console lines:\n"));
        // What the guest printed before the kill (firmware or kernel, depending on the host's load) is quoted.
        string lastLine = File.ReadAllLines(options.ConsoleLogPath).Last(l => l.Trim().Length > 0);
        Assert.That(e.Message, Does.Contain(lastLine.Trim()));
    }

    [Test]
    public void AFailingGuestIsReportedAndLeavesNoCacheEntry()
    {
        // kexec -p cannot place an 8 MiB kernel and its initramfs in an 8 MiB reservation, so
        // /init prints KDS-FAIL and powers off.
        DumpGuest guest = DumpGuest.Default with { CrashKernel = "8M" };

        var e = Assert.Throws<QemuException>(() => TestDumps.Get(TestKernel.Debian61, guest));

        Assert.That(e!.Message, Does.StartWith("the guest failed: KDS-FAIL: kexec -p"));
        Assert.That(e.Message, Does.Contain("s | KDS-FAIL: kexec -p"));
        string directory = TestDumps.DirectoryFor(TestKernel.Debian61, guest);
        Assert.That(Directory.Exists(directory), Is.False);
        Assert.That(Directory.GetDirectories(TestDumps.DumpsRoot, Path.GetFileName(directory) + "*"), Is.Empty);
    }
}
