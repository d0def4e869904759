using System.Text;
using System.Text.Json;
using KdumpSharp.Analyzer;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Dumps;
using KdumpSharp.VmTests.Analyzer;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.CrashEnvironment;

/// <summary>
/// The product's crash environment in a real crash kernel: kds-capture as /init of the initramfs
/// <see cref="KdumpSharp.Initramfs.CrashInitramfsBuilder"/> builds, armed by Debian's kexec -p,
/// capturing onto an ext4 disk or a raw disk, or failing cleanly when the disk is missing. The host
/// reads the results back without mounting anything (debugfs, or the raw image as a file).
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class CrashEnvironmentTests(TestKernel kernel)
{
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Test]
    public void Captures_dmesg_and_a_level_31_dump_onto_an_ext4_disk_found_by_uuid()
    {
        string directory = CrashScenario.WorkDirectory("ext4", kernel);
        Ext4DumpTarget target = Ext4DumpTarget.Create(Path.Combine(directory, "target.img"), 512, Guid.NewGuid(), "kdscrash");
        var configuration = new CaptureConfiguration { Target = $"UUID={target.Uuid}", DeviceTimeout = TimeSpan.FromSeconds(60) };

        CrashScenario.Result result = CrashScenario.Run(kernel, directory, CrashScenario.Request(kernel, configuration), target.Image);

        QemuRun run = result.Run;
        Assert.That(run.Find("kds-capture: ") , Is.Not.Null, run.Describe("kds-capture never ran as the crash kernel's init"));
        Assert.That(run.Find("capture done; Reboot"), Is.Not.Null, run.Describe("the capture did not finish with the final action"));
        Assert.That(run.Find("FAILED"), Is.Null, run.Describe("the crash environment reported a failure"));

        // Read back without mounting: debugfs lists and copies out of the image.
        string dumpPath = $"/var/crash/{target.DumpDirectories().Single()}";
        Assert.That(target.Mode(dumpPath), Is.EqualTo("0700"));
        string dump = target.Extract(dumpPath, Path.Combine(directory, "extracted"));
        Assert.That(Directory.GetFiles(dump).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "capture.log", "vmcore-dmesg.txt", "vmcore.kds" }));
        foreach (string file in new[] { "capture.log", "vmcore-dmesg.txt", "vmcore.kds" })
            Assert.That(target.Mode($"{dumpPath}/{file}"), Is.EqualTo("0600"), file);

        AssertDumpHasTheCrash(Path.Combine(dump, "vmcore.kds"), result.Marker);
        Assert.That(File.ReadAllText(Path.Combine(dump, "vmcore-dmesg.txt")), Does.Contain(result.Marker));
        string log = File.ReadAllText(Path.Combine(dump, "capture.log"));
        Assert.That(log, Does.Contain("dump saved"));
        Assert.That(log, Does.Contain("reading the kept pages through mmap"), "/proc/vmcore is mapped by default, as makedumpfile does");
        TestContext.Out.WriteLine($"{kernel}: capture.log:\n{log}");
        TestContext.Out.WriteLine($"{kernel}: console {run.ConsoleLogPath}; QEMU ran {run.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>
    /// A raw target: the kds stream is written from offset 0 of the device, and the host opens the
    /// disk image itself as the dump, zeros and leftover bytes after the stream included.
    /// </summary>
    [Test]
    public void Streams_the_dump_onto_a_raw_disk_that_the_analyzer_opens_as_it_is()
    {
        string directory = CrashScenario.WorkDirectory("raw", kernel);
        string disk = CrashScenario.CreateDisk(Path.Combine(directory, "target.img"), 512);
        // Leftovers of an earlier use of the disk, far past where the dump ends.
        using (var image = new FileStream(disk, FileMode.Open, FileAccess.Write))
        {
            byte[] garbage = new byte[1 << 20];
            new Random(31).NextBytes(garbage);
            image.Position = 400L << 20;
            image.Write(garbage);
        }
        var configuration = new CaptureConfiguration { Target = "/dev/vdb", Kind = TargetKind.Raw, DeviceTimeout = TimeSpan.FromSeconds(60) };

        CrashScenario.Result result = CrashScenario.Run(kernel, directory, CrashScenario.Request(kernel, configuration), disk);

        QemuRun run = result.Run;
        Assert.That(run.Find("dump written to /dev/vdb from offset 0"), Is.Not.Null, run.Describe("the raw capture did not finish"));
        Assert.That(run.Find("capture done; Reboot"), Is.Not.Null, run.Describe("no final action after the raw capture"));
        AssertDumpHasTheCrash(disk, result.Marker);
        using IDumpReader reader = DumpFile.Open(disk);
        Assert.That(((ICaptureMetadata)reader).Dmesg!.Value.ToArray(), Is.Not.Empty, "dmesg travels inside the stream");
    }

    /// <summary>
    /// The target never appears: the failure action (here poweroff, to tell it from the final
    /// reboot) runs once the device timeout is over, and the crashed kernel's log is printed on the
    /// console between two marker lines, since there is nowhere to save it.
    /// </summary>
    [Test]
    public void A_missing_target_runs_the_failure_action_within_its_timeout_and_prints_dmesg()
    {
        string directory = CrashScenario.WorkDirectory("missing", kernel);
        string disk = CrashScenario.CreateDisk(Path.Combine(directory, "blank.img"), 16);
        TimeSpan timeout = TimeSpan.FromSeconds(10);
        var configuration = new CaptureConfiguration
        {
            Target = "LABEL=no-such-disk",
            DeviceTimeout = timeout,
            FailureAction = CrashAction.PowerOff,
        };

        CrashScenario.Result result = CrashScenario.Run(kernel, directory, CrashScenario.Request(kernel, configuration), disk);

        QemuRun run = result.Run;
        ConsoleLine waiting = run.Find("waiting up to 10 s for LABEL=no-such-disk") ?? throw new AssertionException(run.Describe("never waited for the target"));
        ConsoleLine failed = run.Find("FAILED: target LABEL=no-such-disk did not appear within 10 s") ?? throw new AssertionException(run.Describe("no failure reported"));
        Assert.That(run.Find("failure action: PowerOff"), Is.Not.Null, run.Describe("the failure action was not announced"));
        Assert.That(run.Find("capture done"), Is.Null);
        ConsoleLine begin = run.Find("---- crashed kernel's log (vmcore-dmesg) ----") ?? throw new AssertionException(run.Describe("dmesg was not printed"));
        ConsoleLine end = run.Find("---- end of crashed kernel's log ----") ?? throw new AssertionException(run.Describe("dmesg was cut"));
        int first = run.Lines.ToList().IndexOf(begin), last = run.Lines.ToList().IndexOf(end);
        Assert.That(run.Lines.Skip(first).Take(last - first).Any(l => l.Text.Contains(result.Marker)), Is.True, "the marker is in the printed log");
        double waited = (failed.At - waiting.At).TotalSeconds;
        double toExit = (run.Elapsed - waiting.At).TotalSeconds;
        TestContext.Out.WriteLine($"{kernel}: failure after {waited:0.0} s of a {timeout.TotalSeconds:0} s device timeout; QEMU exited {toExit:0.0} s after the wait began");
        Assert.That(waited, Is.InRange(timeout.TotalSeconds - 1, timeout.TotalSeconds + 20), "host-side time; TCG under load stretches it");
        Assert.That(toExit, Is.LessThan(timeout.TotalSeconds + 60), "the failure action ends the machine");
    }

    /// <summary>The analyzer opens the dump and finds the marker in dmesg and the sysrq panic in info.</summary>
    private void AssertDumpHasTheCrash(string path, string marker)
    {
        using (IDumpReader reader = DumpFile.Open(path))
            Assert.That((reader.Properties.Format, reader.Properties.IsIncomplete, reader.Properties.DumpLevel), Is.EqualTo((DumpFormat.Native, false, 31)));
        (int code, byte[] dmesg, string error) = AnalyzerCliTests.Run("dmesg", path);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(Encoding.UTF8.GetString(dmesg), Does.Contain(marker));
        (code, byte[] info, error) = AnalyzerCliTests.Run("info", "--json", path);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        using JsonDocument doc = JsonDocument.Parse(info);
        Assert.That(doc.RootElement.GetProperty("release").GetString(), Is.EqualTo(kernel.Release));
        Assert.That(doc.RootElement.GetProperty("panic").GetProperty("message").GetString(), Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
    }
}
