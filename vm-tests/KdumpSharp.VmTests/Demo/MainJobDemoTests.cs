using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Demo;

/// <summary>The README's demo, run as a test: what it prints is what CI proves.</summary>
public sealed class MainJobDemoTests
{
    [Test]
    public void TheDemoArmsCrashesCapturesAndTriages()
    {
        var narration = new StringWriter();
        MainJobDemoResult result;
        try
        {
            result = new MainJobDemo(narration) { Kernel = TestKernel.Debian61 }.Run(TestContext.CurrentContext.WorkDirectory);
        }
        finally
        {
            TestContext.Out.WriteLine(narration.ToString());
        }

        ConsoleLine? built = result.Run.Find("crash initramfs: built /var/lib/kdumpsharp/crash-initramfs-");
        ConsoleLine? reused = result.Run.Find("crash initramfs: reused /var/lib/kdumpsharp/crash-initramfs-");
        Assert.That(built, Is.Not.Null, "the first crash load built the crash initramfs in the guest");
        Assert.That(reused, Is.Not.Null, "the second crash load reused it");
        Assert.That(reused!.Text.Split(' ')[3], Is.EqualTo(built!.Text.Split(' ')[3]), "the same cached file");
        Assert.That(result.Run.Find("crash kernel armed with kexec_file_load", occurrence: 2), Is.Not.Null);
        Assert.That(result.Run.Find("Kernel command line: elfcorehdr="), Is.Not.Null.And.Property("Text").Contains(" norandmaps"),
            "the crash kernel got the parameter the built image needs");
        Assert.That(result.Run.Find("crash kernel:   armed"), Is.Not.Null, "kds-loader status after the load");
        Assert.That(result.Dmesg, Does.Contain($"KDS-MARKER {result.Marker}"));
        Assert.That(result.Triage, Does.Contain("sysrq").IgnoreCase, "triage names the sysrq-triggered panic");
        Assert.That(Directory.GetFiles(result.DumpDirectory).Select(Path.GetFileName).Order(),
            Is.EqualTo(new[] { "capture.log", "vmcore-dmesg.txt", "vmcore.kds" }));
        Assert.That(File.ReadAllText(Path.Combine(result.DumpDirectory, "vmcore-dmesg.txt")), Does.Contain($"KDS-MARKER {result.Marker}"));
        Assert.That(Path.GetFileName(result.DumpDirectory), Does.Match(@"-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d$"));
    }
}
