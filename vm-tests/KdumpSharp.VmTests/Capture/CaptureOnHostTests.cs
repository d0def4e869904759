using System.Text.RegularExpressions;
using KdumpSharp.Analysis;
using KdumpSharp.Capture;
using KdumpSharp.Dumps;
using KdumpSharp.Filtering;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Capture;

/// <summary>
/// kds-capture run on the host over the real ELF vmcores the harness copied out of each crash
/// kernel (the same bytes /proc/vmcore served): layout, permissions, dmesg first, and the pages a
/// level-31 capture keeps compared with makedumpfile's -d 31 file of the same crash.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class CaptureOnHostTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;
    private string _root = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(kernel);
        _root = Path.Combine(Directory.CreateTempSubdirectory("kds-capture-").FullName, "crash");
    }

    [OneTimeTearDown]
    public void RemoveCaptures() => Directory.Delete(Path.GetDirectoryName(_root)!, recursive: true);

    private (int Code, string Output, string Error) Capture(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CaptureCli.Run(args, output, error);
        return (code, output.ToString().Trim(), error.ToString());
    }

    [Test]
    public void Kdump_capture_has_the_layout_and_the_pages_makedumpfile_keeps()
    {
        var (code, dumpPath, error) = Capture("--format", "kdump", "-c", "lzo", "--host", "testhost", "-d", _root, _dumps.ElfVmcore);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        string dir = Path.GetDirectoryName(dumpPath)!;
        Assert.That(Path.GetFileName(dir), Does.Match(@"^testhost-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d$"));
        Assert.That(File.GetUnixFileMode(dir), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        Assert.That(Directory.GetFiles(dir).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "capture.log", "vmcore", "vmcore-dmesg.txt" }));
        foreach (string file in Directory.GetFiles(dir))
            Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), file);
        Assert.That(File.ReadAllBytes(Path.Combine(dir, "vmcore-dmesg.txt")), Is.EqualTo(File.ReadAllBytes(_dumps.VmcoreDmesg)));

        // The log shows dmesg was saved before the dump was written.
        string log = File.ReadAllText(Path.Combine(dir, "capture.log"));
        Assert.That(log.IndexOf("dmesg saved", StringComparison.Ordinal), Is.LessThan(log.IndexOf("dump saved", StringComparison.Ordinal)));

        using IDumpReader ours = DumpFile.Open(dumpPath);
        using IDumpReader theirs = DumpFile.Open(_dumps.KdumpLzo.Path!);
        Assert.That(ours.Properties.DumpLevel, Is.EqualTo(31));
        int kept = 0;
        var differing = new List<(ulong Pfn, bool OursKept)>();
        foreach (PhysicalRange range in theirs.Memory.Ranges)
            for (ulong pfn = range.Start.Frame.Value; pfn < range.End.Frame.Value; pfn++)
            {
                bool oursKept = ours.Memory.GetPageState(new PageFrameNumber(pfn)) == PageState.Present;
                bool theirsKept = theirs.Memory.GetPageState(new PageFrameNumber(pfn)) == PageState.Present;
                kept += oursKept ? 1 : 0;
                if (oursKept != theirsKept)
                    differing.Add((pfn, oursKept));
            }
        TestContext.Out.WriteLine($"{kernel}: {kept} pages kept; {differing.Count} differ from makedumpfile 1.7.2 -d 31: " +
            string.Join(" ", differing.Take(20).Select(d => $"0x{d.Pfn:x}")));
        // docs/format.md, "Page filtering vs makedumpfile 1.7.2": identical on 6.1; on 6.12, 1.7.2
        // drops slab pages whose struct slab puts an odd int where page.mapping was (its 6.2+
        // slab/anon aliasing bug), which we keep. How many depends on the crash (86 and 82 seen).
        if (kernel == TestKernel.Debian61)
        {
            Assert.That(differing, Is.Empty);
            return;
        }
        Assert.That(differing, Is.Not.Empty, "1.7.2 misreads 6.12 slab pages; if nothing differs, the comparison is not looking");
        using KernelDump source = KernelDump.Open(_dumps.ElfVmcore);
        PageClassifier classifier = PageClassifier.Create(source.Virtual, source.Vmcoreinfo);
        foreach ((ulong pfn, bool oursKept) in differing)
        {
            StructPage? page = classifier.MemMap.ReadStructPage(new PageFrameNumber(pfn));
            Assert.That(oursKept && page is StructPage p && classifier.Rules.IsSlab(p) && (p.Mapping & 1) != 0, Is.True,
                $"pfn 0x{pfn:x}: we {(oursKept ? "keep" : "drop")} it, makedumpfile does not, and it is not a slab page with page.mapping bit 0 set ({page})");
        }
    }

    /// <summary>The default capture: native format, lz4, level 31, which keeps only the kernel's pages and so
    /// looks for no copies; with --dedup, the same capture records repeated pages as copies. Every page it kept
    /// reads back as the vmcore had it (copies through the pages they name); what it dropped is what the
    /// classifier dropped; the analyzer reads it like any dump.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void Native_capture_keeps_every_page_it_stores_byte_for_byte(bool dedup)
    {
        string[] copies = dedup ? ["--dedup"] : [];
        var (code, dumpPath, error) = Capture(["-q", .. copies, "--host", dedup ? "native-dedup" : "native", "-d", _root, _dumps.ElfVmcore]);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(dumpPath, Does.EndWith("/vmcore.kds"));
        using IDumpReader ours = DumpFile.Open(dumpPath);
        using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
        Assert.That((ours.Properties.Format, ours.Properties.Compression, ours.Properties.DumpLevel, ours.Properties.IsIncomplete),
            Is.EqualTo((DumpFormat.Native, "lz4", 31, false)));
        Assert.That(ours.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        byte[] a = new byte[4096], b = new byte[4096];
        int stored = 0, excluded = 0;
        foreach (PhysicalRange range in source.Memory.Ranges)
            for (ulong pfn = range.Start.Frame.Value; pfn <= (range.End.Value - 1) >> 12; pfn++)
            {
                PageState state = ours.Memory.ReadPage(new PageFrameNumber(pfn), a);
                if (state == PageState.Excluded)
                {
                    excluded++;
                    continue;
                }
                Assert.That(state, Is.EqualTo(PageState.Present), $"pfn 0x{pfn:x}");
                source.Memory.ReadPage(new PageFrameNumber(pfn), b);
                Assert.That(a.AsSpan().SequenceEqual(b), Is.True, $"pfn 0x{pfn:x} differs");
                stored++;
            }
        PageCounts counts = ((ICaptureMetadata)ours).PageCounts!;
        TestContext.Out.WriteLine($"{kernel}: {stored} pages kept ({counts.Copies} of them copies of an earlier page), {excluded} excluded, {new FileInfo(dumpPath).Length >> 10} KiB");
        Assert.That(excluded, Is.GreaterThan(stored), "free pages dominate a small idle guest; level 31 must drop them");
        string log = File.ReadAllText(Path.Combine(Path.GetDirectoryName(dumpPath)!, "capture.log"));
        if (dedup)
        {
            // Every guest repeats some kernel pages (1,701 on 6.1 and 2,426 on 6.12 in two crashes), so the loop
            // above read copies back through the pages they name.
            Assert.That(counts.Copies, Is.GreaterThan(100), "pages recorded as copies");
            Assert.That(log, Does.Contain($"copies: {counts.Copies} pages repeat an earlier page"));
        }
        else
        {
            Assert.That(counts.Copies, Is.Zero, "level 31 keeps only kernel pages: no copies by default");
            Assert.That(log, Does.Contain("copies: not looked for, dump level 31 keeps only the kernel's own pages (--dedup looks)"));
        }

        var (dmesgCode, dmesg, _) = KdumpSharp.VmTests.Analyzer.AnalyzerCliTests.Run("dmesg", dumpPath);
        Assert.That(dmesgCode, Is.Zero);
        Assert.That(dmesg, Is.EqualTo(File.ReadAllBytes(_dumps.VmcoreDmesg)));
    }

    /// <summary>Level 1 keeps every non-zero page; the classes still decide the codec: chunks of mostly user, cache
    /// and free memory at LZ4 acceleration 32, kernel memory at 1. Every page reads back as the vmcore had it, and
    /// the same capture at acceleration 1 throughout is smaller, so bulk chunks were there and compressed faster.</summary>
    [Test]
    public void A_level_1_capture_keeps_every_page_and_compresses_bulk_memory_for_speed()
    {
        var (code, dumpPath, error) = Capture("-q", "-l", "1", "--host", "level1", "-d", _root, _dumps.ElfVmcore);
        var (allCode, allPath, allError) = Capture("-q", "-l", "1", "--compress-level", "1", "--host", "level1-accel1", "-d", _root, _dumps.ElfVmcore);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(allCode, Is.EqualTo(ExitCodes.Success), allError);
        Assert.That(File.ReadAllText(Path.Combine(Path.GetDirectoryName(dumpPath)!, "capture.log")),
            Does.Contain("lz4 compression (acceleration 1, 32 for user, cache and free pages), dump level 1"));
        using IDumpReader ours = DumpFile.Open(dumpPath);
        using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
        Assert.That(ours.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        byte[] a = new byte[4096], b = new byte[4096];
        int present = 0;
        foreach (PhysicalRange range in source.Memory.Ranges)
            for (ulong pfn = range.Start.Frame.Value; pfn <= (range.End.Value - 1) >> 12; pfn++)
            {
                PageState state = ours.Memory.ReadPage(new PageFrameNumber(pfn), a);
                Assert.That(state, Is.EqualTo(PageState.Present), $"pfn 0x{pfn:x}: level 1 drops nothing");
                source.Memory.ReadPage(new PageFrameNumber(pfn), b);
                Assert.That(a.AsSpan().SequenceEqual(b), Is.True, $"pfn 0x{pfn:x} differs");
                present++;
            }
        long fast = new FileInfo(dumpPath).Length, small = new FileInfo(allPath).Length;
        long copies = ((ICaptureMetadata)ours).PageCounts!.Copies;
        TestContext.Out.WriteLine($"{kernel}: {present} pages ({copies} copies); {fast >> 10} KiB with bulk memory at acceleration 32, {small >> 10} KiB at 1 throughout");
        // Level 1 keeps user, cache and free pages, so copies are looked for by default, and the loop above read them back.
        Assert.That(copies, Is.GreaterThan(1000), "level 1 looks for copies by default");
        Assert.That(small, Is.LessThan(fast), "bulk chunks at acceleration 32 must be bigger than at 1");
    }

    /// <summary>--stdout streams the dump forward-only (as into ssh): the bytes are a valid dump with dmesg inside.</summary>
    [Test]
    public void Streaming_to_a_pipe_gives_a_valid_dump()
    {
        var pipe = new ForwardOnlyStream();
        var error = new StringWriter();

        int code = CaptureCli.Run(["--stdout", "-q", _dumps.ElfVmcore], new StringWriter(), error, () => pipe);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error.ToString());
        string path = Path.Combine(Path.GetDirectoryName(_root)!, "streamed.kds");
        File.WriteAllBytes(path, pipe.Written.ToArray());
        using IDumpReader streamed = DumpFile.Open(path);
        Assert.That((streamed.Properties.Format, streamed.Properties.IsIncomplete), Is.EqualTo((DumpFormat.Native, false)));
        Assert.That(((ICaptureMetadata)streamed).Dmesg!.Value.ToArray(), Is.EqualTo(File.ReadAllBytes(_dumps.VmcoreDmesg)));
    }

    /// <summary>A pipe: writes only, no seeking, no length.</summary>
    private sealed class ForwardOnlyStream : Stream
    {
        public MemoryStream Written { get; } = new();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Written.Write(buffer, offset, count);
    }

    /// <summary>The native format is crash-safe: cut off by a full disk, what was written still opens,
    /// says it is incomplete and serves the pages that reached the disk.</summary>
    [Test]
    public void A_native_dump_cut_by_a_full_disk_still_opens_and_reads()
    {
        string mount = Path.Combine(Path.GetDirectoryName(_root)!, "small-native");
        Directory.CreateDirectory(mount);
        HostProcess.Result m = HostProcess.Run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mount], "/", TimeSpan.FromSeconds(30));
        Assert.That(m.ExitCode, Is.Zero, $"mounting a 6 MiB tmpfs needs root: {m.Output}");
        try
        {
            var (code, dumpPath, error) = Capture("-q", "-c", "none", "--host", "full", "-d", mount, _dumps.ElfVmcore);

            Assert.That(code, Is.EqualTo(ExitCodes.DiskFull), error);
            Assert.That(dumpPath, Does.EndWith("vmcore.kds-incomplete"));
            using IDumpReader partial = DumpFile.Open(dumpPath);
            using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
            Assert.That(partial.Properties.IsIncomplete, Is.True);
            byte[] a = new byte[4096], b = new byte[4096];
            int present = 0;
            foreach (PhysicalRange range in partial.Memory.Ranges)
                for (ulong pfn = range.Start.Frame.Value; pfn <= (range.End.Value - 1) >> 12; pfn++)
                    if (partial.Memory.ReadPage(new PageFrameNumber(pfn), a) == PageState.Present)
                    {
                        source.Memory.ReadPage(new PageFrameNumber(pfn), b);
                        Assert.That(a.AsSpan().SequenceEqual(b), Is.True, $"pfn 0x{pfn:x}");
                        present++;
                    }
            TestContext.Out.WriteLine($"{kernel}: {present} pages readable from the cut dump ({new FileInfo(dumpPath).Length >> 10} KiB)");
            Assert.That(present, Is.GreaterThan(100));
        }
        finally
        {
            // A busy file system here means the capture left a file open on the full disk.
            HostProcess.Result unmount = HostProcess.Run("/usr/bin/umount", [mount], "/", TimeSpan.FromSeconds(30));
            Assert.That(unmount.ExitCode, Is.Zero, $"umount {mount}: {unmount.Output}");
        }
    }

    [Test]
    public void A_full_disk_keeps_dmesg_and_an_incomplete_dump_and_exits_9()
    {
        string mount = Path.Combine(Path.GetDirectoryName(_root)!, "small");
        Directory.CreateDirectory(mount);
        HostProcess.Result m = HostProcess.Run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], "/", TimeSpan.FromSeconds(30));
        Assert.That(m.ExitCode, Is.Zero, $"mounting a 4 MiB tmpfs needs root: {m.Output}");
        try
        {
            var (code, dumpPath, error) = Capture("--format", "kdump", "-c", "none", "--host", "full", "-d", mount, _dumps.ElfVmcore);

            Assert.That(code, Is.EqualTo(ExitCodes.DiskFull), error);
            Assert.That(dumpPath, Does.EndWith("vmcore-incomplete"));
            Assert.That(File.Exists(dumpPath), Is.True);
            Assert.That(File.Exists(dumpPath[..^"-incomplete".Length]), Is.False, "a partial dump never takes the final name");
            string dir = Path.GetDirectoryName(dumpPath)!;
            Assert.That(File.ReadAllBytes(Path.Combine(dir, "vmcore-dmesg.txt")), Is.EqualTo(File.ReadAllBytes(_dumps.VmcoreDmesg)));
        }
        finally
        {
            // A busy file system here means the capture left a file open on the full disk.
            HostProcess.Result unmount = HostProcess.Run("/usr/bin/umount", [mount], "/", TimeSpan.FromSeconds(30));
            Assert.That(unmount.ExitCode, Is.Zero, $"umount {mount}: {unmount.Output}");
        }
    }

    [Test]
    public void A_missing_input_is_one_line_and_exit_3()
    {
        var (code, _, error) = Capture("-q", "-d", _root, "/nonexistent/vmcore");

        Assert.That(code, Is.EqualTo(ExitCodes.CannotOpen));
        Assert.That(error.Trim(), Does.Match(@"^kds-capture: [^\n]*no such file"));
    }
}
