using KdumpSharp.CrashEnvironment;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.CrashEnvironment;

/// <summary>
/// A one-off measurement, not part of the suite (one boot per size): the smallest crashkernel=
/// with which the product's crash initramfs captures onto ext4. A size too small ends in the crash
/// kernel's OOM panic, which panic=-1 turns into QEMU's exit, or in a partly unpacked initramfs
/// whose kds-capture fails and reboots, so every run ends.
/// </summary>
[Explicit("measurement: several boots per kernel; run by hand")]
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class CrashKernelSizeMeasurement(TestKernel kernel)
{
    [TestCase(96)]
    [TestCase(104)]
    [TestCase(112)]
    [TestCase(120)]
    [TestCase(128)]
    [TestCase(136)]
    [TestCase(144)]
    public void Capture_with_crashkernel_of(int mebibytes)
    {
        string directory = CrashScenario.WorkDirectory($"size{mebibytes}", kernel);
        string disk = CrashScenario.CreateDisk(Path.Combine(directory, "target.img"), 512);
        CrashScenario.Tool("mkfs.ext4", directory, "-q", "-F", "-L", "kdscrash", disk);
        var configuration = new CaptureConfiguration { Target = "LABEL=kdscrash", DeviceTimeout = TimeSpan.FromSeconds(60) };

        CrashScenario.Result result = CrashScenario.Run(kernel, directory, CrashScenario.Request(kernel, configuration), disk, crashKernelMiB: mebibytes);

        bool done = result.Run.Find("capture done; Reboot") is not null;
        string? oom = result.Run.Lines.FirstOrDefault(l => l.Text.Contains("Out of memory") || l.Text.Contains("oom-killer") || l.Text.Contains("Failed to create CoreCLR"))?.Text;
        TestContext.Out.WriteLine($"MEASURE {kernel} crashkernel={mebibytes}M: {(done ? "capture done" : "FAILED: " + (oom ?? result.Run.Lines.LastOrDefault()?.Text))}");
        Assert.That(done, Is.True, result.Run.Describe($"crashkernel={mebibytes}M is not enough"));
    }
}
