using KdumpSharp.Capture;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Capture;

/// <summary>
/// A kds-capture <c>--format kdump</c> file of a real crash is read by the peers that read
/// makedumpfile's: crash's <c>sys</c> and drgn find the crashed kernel's release and panic in it.
/// And the capture's fast paths (batched reads on reading threads, <c>--mmap</c>) write the same
/// pages as the single-threaded pread capture. Debian 6.1 only: crash 8.0.2 cannot read 6.12 dumps
/// (bench/README.md). The debuginfo vmlinux comes from <see cref="DebugInfo"/>, fetched on first use.
/// </summary>
public sealed class CapturePeerToolsTests
{
    private static readonly TestKernel Kernel = TestKernel.Debian61;
    private TestDumpSet _dumps = null!;
    private string _root = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(Kernel);
        _root = Directory.CreateTempSubdirectory("kds-capture-peers-").FullName;
    }

    [OneTimeTearDown]
    public void RemoveCaptures() => Directory.Delete(_root, recursive: true);

    private static string DebugVmlinux() => DebugInfo.Vmlinux(Kernel.Release, TestContext.Progress.WriteLine);

    private string Capture(string host, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CaptureCli.Run(["-q", "--host", host, "-d", _root, .. args, _dumps.ElfVmcore], output, error);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error.ToString());
        return output.ToString().Trim();
    }

    private static string Require(string tool)
    {
        string path = $"/usr/bin/{tool}";
        if (!File.Exists(path))
            Assert.Fail($"{tool} is not installed: run scripts/setup.sh");
        return path;
    }

    [Test]
    public void Crash_reads_a_kdump_capture()
    {
        string crash = Require("crash");
        string vmlinux = DebugVmlinux();
        string dump = Capture("crash", "--format", "kdump", "-c", "zlib");
        string commands = Path.Combine(_root, "crash.in");
        File.WriteAllText(commands, "sys\nexit\n");

        HostProcess.Result result = HostProcess.Run(crash, ["-s", vmlinux, dump, "-i", commands], _root, TimeSpan.FromMinutes(10));

        Assert.That(result.ExitCode, Is.Zero, result.Output);
        Assert.That(result.Output, Does.Match($@"RELEASE: {System.Text.RegularExpressions.Regex.Escape(Kernel.Release)}\b"));
        Assert.That(result.Output, Does.Contain("PANIC: \"Kernel panic - not syncing: sysrq triggered crash\""));
    }

    [Test]
    public void Drgn_reads_a_kdump_capture()
    {
        string drgn = Require("drgn");
        string vmlinux = DebugVmlinux();
        string dump = Capture("drgn", "--format", "kdump", "-c", "lzo");
        string script = Path.Combine(_root, "release.py");
        File.WriteAllText(script, "print(prog['init_uts_ns'].name.release.string_().decode())\nprint('crashed-tid', prog.crashed_thread().tid)\n");

        HostProcess.Result result = HostProcess.Run(drgn, ["-q", "-c", dump, "-s", vmlinux, "--no-default-symbols", script], _root, TimeSpan.FromMinutes(5));

        Assert.That(result.ExitCode, Is.Zero, result.Output);
        Assert.That(result.Output, Does.Contain(Kernel.Release));
        Assert.That(result.Output, Does.Match(@"crashed-tid \d+"));
    }

    /// <summary>-j 1 reads on the writer's thread with pread; -j 3 --mmap maps batches on reading threads.
    /// Both must describe every page the same way and store the same bytes.</summary>
    [TestCase(1)]
    [TestCase(31)]
    public void Threads_and_mmap_write_the_same_pages_as_one_thread(int level)
    {
        string l = level.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string single = Capture($"single{level}", "-l", l, "-j", "1");
        string mapped = Capture($"mapped{level}", "-l", l, "-j", "3", "--mmap");

        using IDumpReader a = DumpFile.Open(single);
        using IDumpReader b = DumpFile.Open(mapped);
        Assert.That(b.Memory.Ranges, Is.EqualTo(a.Memory.Ranges));
        byte[] pa = new byte[4096], pb = new byte[4096];
        int present = 0;
        foreach (PhysicalRange range in a.Memory.Ranges)
            for (ulong pfn = range.Start.Frame.Value; pfn <= (range.End.Value - 1) >> 12; pfn++)
            {
                var frame = new PageFrameNumber(pfn);
                PageState sa = a.Memory.ReadPage(frame, pa), sb = b.Memory.ReadPage(frame, pb);
                Assert.That(sb, Is.EqualTo(sa), $"pfn 0x{pfn:x}");
                if (sa == PageState.Present)
                {
                    present++;
                    Assert.That(pb.AsSpan().SequenceEqual(pa), Is.True, $"pfn 0x{pfn:x} bytes");
                }
            }
        Assert.That(present, Is.GreaterThan(1000));
        Assert.That(new FileInfo(mapped).Length, Is.EqualTo(new FileInfo(single).Length).Within(64 << 10),
            "the same chunks; only the Capture section's identity and the log differ");
    }
}
