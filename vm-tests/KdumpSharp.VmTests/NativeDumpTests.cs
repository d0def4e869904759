using System.Text;
using KdumpSharp.Analyzer;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests;

/// <summary>
/// KdumpSharp's own format on real crashes: each kernel's /proc/vmcore copy (and makedumpfile's
/// -l -d 31 file of it) converted to native, then every page compared with the source, the kernel
/// log printed by kds-analyzer from both, and a copy cut in half read back.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class NativeDumpTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;
    private string _directory = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(kernel);
        _directory = Directory.CreateTempSubdirectory("kds-native-vm-").FullName;
    }

    [OneTimeTearDown]
    public void RemoveConversions() => Directory.Delete(_directory, recursive: true);

    private string Convert(string source, PageCompression compression, int threads)
    {
        string path = Path.Combine(_directory, $"{Path.GetFileName(source)}.{PageCodec.DisplayName(compression)}.{threads}.kds");
        if (File.Exists(path))
            return path;
        using IDumpReader reader = DumpFile.Open(source);
        using (var output = new FileStream(path, FileMode.CreateNew))
            NativeDumpWriter.Write(reader, output, new NativeDumpWriterOptions { Compression = compression, Parallelism = threads });
        return path;
    }

    [TestCase(PageCompression.Lz4, 1)]
    [TestCase(PageCompression.Lz4, 2)]
    [TestCase(PageCompression.Zstd, 2)]
    public void Every_page_of_the_vmcore_comes_back_identical(PageCompression compression, int threads)
    {
        string path = Convert(_dumps.ElfVmcore, compression, threads);
        using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
        using IDumpReader native = DumpFile.Open(path);

        Assert.That(native.Properties.Format, Is.EqualTo(DumpFormat.Native));
        Assert.That(native.Properties.IsIncomplete, Is.False, native.Properties.IncompleteReason);
        Assert.That(native.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        Assert.That(native.Notes.Select(n => (n.Name, n.Type, Hex(n.Descriptor))), Is.EqualTo(source.Notes.Select(n => (n.Name, n.Type, Hex(n.Descriptor)))));
        (long present, long differing) = Compare(source, native);
        Assert.That(differing, Is.Zero);
        Assert.That(present, Is.GreaterThan(40_000));
        TestContext.Out.WriteLine($"{kernel}: {present} pages identical; {new FileInfo(_dumps.ElfVmcore).Length >> 20} MiB ELF -> {new FileInfo(path).Length >> 20} MiB native {PageCodec.DisplayName(compression)}");
    }

    [Test]
    public void Kds_analyzer_prints_the_same_dmesg_from_ours_as_from_the_vmcore()
    {
        string path = Convert(_dumps.ElfVmcore, PageCompression.Lz4, 2);
        (int code, byte[] ours, string error) = Run("dmesg", path);
        (int sourceCode, byte[] theirs, _) = Run("dmesg", _dumps.ElfVmcore);

        Assert.That((code, sourceCode), Is.EqualTo((ExitCodes.Success, ExitCodes.Success)), error);
        Assert.That(ours, Is.EqualTo(theirs));
        Assert.That(Encoding.ASCII.GetString(ours), Does.Contain(_dumps.Marker));
        using var native = (NativeDumpReader)DumpFile.Open(path);
        Assert.That(native.Dmesg!.Value.ToArray(), Is.EqualTo(theirs), "the dmesg saved in the file, as kds-capture will save it");
        Assert.That(native.Identity.CrashedKernel?.Release, Is.EqualTo(kernel.Release));
    }

    [Test]
    public void Makedumpfiles_filtered_file_converts_with_its_exclusions_and_level()
    {
        string? lzo = _dumps.KdumpLzo.Path;
        if (lzo is null)
        {
            Assert.Inconclusive($"makedumpfile made no -l file for {kernel}");
            return;
        }
        string path = Convert(lzo, PageCompression.Lz4, 2);
        using IDumpReader source = DumpFile.Open(lzo);
        using IDumpReader native = DumpFile.Open(path);

        Assert.That(native.Properties.DumpLevel, Is.EqualTo(source.Properties.DumpLevel));
        (long present, long differing) = Compare(source, native);
        Assert.That(differing, Is.Zero);
        TestContext.Out.WriteLine($"{kernel}: {present} pages; makedumpfile -l {new FileInfo(lzo).Length} bytes, native lz4 {new FileInfo(path).Length} bytes");
    }

    [Test]
    public void A_copy_cut_in_half_keeps_the_first_half()
    {
        byte[] whole = File.ReadAllBytes(Convert(_dumps.ElfVmcore, PageCompression.Lz4, 2));
        using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
        using IDumpReader cut = DumpFile.Open(new MemorySource("half.kds", whole.AsMemory(0, whole.Length / 2)));

        Assert.That(cut.Properties.IsIncomplete, Is.True);
        Assert.That(cut.Properties.IncompleteReason, Does.StartWith("the file has no trailer"));
        var expected = new byte[PageFrameNumber.PageSize];
        var actual = new byte[PageFrameNumber.PageSize];
        long present = 0, lost = 0;
        bool lostSeen = false;
        foreach (ulong pfn in Pfns(source))
        {
            source.Memory.ReadPage(new PageFrameNumber(pfn), expected);
            PageState state = cut.Memory.ReadPage(new PageFrameNumber(pfn), actual);
            if (state == PageState.Lost)
            {
                lost++;
                lostSeen = true;
                continue;
            }
            Assert.That(state, Is.EqualTo(PageState.Present), $"pfn 0x{pfn:x}");
            Assert.That(lostSeen, Is.False, $"pfn 0x{pfn:x} present after a lost one: pages are written in pfn order");
            Assert.That(actual.AsSpan().SequenceEqual(expected), Is.True, $"pfn 0x{pfn:x}");
            present++;
        }
        Assert.That(present, Is.GreaterThan(10_000));
        Assert.That(lost, Is.GreaterThan(10_000));
    }

    /// <summary>Every RAM page: states equal, and bytes equal where present. Returns (present, differing).</summary>
    private static (long Present, long Differing) Compare(IDumpReader source, IDumpReader native)
    {
        var expected = new byte[PageFrameNumber.PageSize];
        var actual = new byte[PageFrameNumber.PageSize];
        long present = 0, differing = 0;
        foreach (ulong pfn in Pfns(source))
        {
            PageState want = source.Memory.ReadPage(new PageFrameNumber(pfn), expected);
            PageState got = native.Memory.ReadPage(new PageFrameNumber(pfn), actual);
            if (got != want || (got == PageState.Present && !actual.AsSpan().SequenceEqual(expected)))
            {
                if (differing++ < 5)
                    TestContext.Out.WriteLine($"pfn 0x{pfn:x}: {want} in the source, {got} in ours");
                continue;
            }
            if (got == PageState.Present)
                present++;
        }
        return (present, differing);
    }

    private static IEnumerable<ulong> Pfns(IDumpReader dump)
    {
        foreach (PhysicalRange r in dump.Memory.Ranges)
            for (ulong pfn = r.Start.Frame.Value; pfn < (r.End.Value + PageFrameNumber.PageSize - 1) / PageFrameNumber.PageSize; pfn++)
                yield return pfn;
    }

    private static string Hex(ReadOnlyMemory<byte> bytes) => System.Convert.ToHexString(bytes.Span);

    private static (int Code, byte[] Output, string Error) Run(params string[] args)
    {
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = AnalyzerCli.Run(args, output, error);
        return (code, output.ToArray(), error.ToString());
    }
}
