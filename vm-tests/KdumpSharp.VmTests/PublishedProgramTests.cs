using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests;

/// <summary>The published kds-capture is what goes into the crash initramfs: one file, small, runnable alone.</summary>
public class PublishedProgramTests
{
    [Test]
    public void Capture_is_a_small_self_contained_single_file_that_runs()
    {
        PublishedProgram capture = PublishedProgram.Capture;

        var size = new FileInfo(capture.Executable).Length;
        TestContext.Out.WriteLine($"kds-capture single file: {size / 1e6:0.0} MB");
        Assert.That(size, Is.InRange(5_000_000, 25_000_000));
        HostProcess.Result result = HostProcess.Run(capture.Executable, ["--help"], capture.Directory, TimeSpan.FromMinutes(1));
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Output);
        Assert.That(result.Output, Does.Contain("/proc/vmcore"));
    }
}
