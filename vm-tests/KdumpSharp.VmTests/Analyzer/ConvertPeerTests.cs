using KdumpSharp.Analyzer;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Analyzer;

/// <summary>
/// What kds-analyzer convert writes, read back by the peers: Debian's vmcore-dmesg reads our ELF
/// output; makedumpfile --dump-dmesg and drgn (through libkdumpfile, physical memory only) read our
/// kdump-compressed output and see the same bytes as the source.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class ConvertPeerTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;
    private string _work = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(kernel);
        _work = Directory.CreateTempSubdirectory("kds-convert-").FullName;
    }

    [OneTimeTearDown]
    public void RemoveOutputs() => Directory.Delete(_work, recursive: true);

    /// <summary>From the ELF copy, and from makedumpfile's zlib file, which has no virtual addresses:
    /// the converter finds them in the dump's page tables, or vmcore-dmesg could not read the log.</summary>
    [TestCase("elf")]
    [TestCase("kdump-zlib")]
    public void Vmcore_dmesg_reads_our_elf_output(string from)
    {
        string source = from == "elf" ? _dumps.ElfVmcore : _dumps.KdumpZlib.Path!;
        string output = Path.Combine(_work, $"from-{from}.elf");

        var (code, _, error) = AnalyzerCliTests.Run("convert", "--to", "elf", "-q", source, output);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(File.Exists(output + "-incomplete"), Is.False);
        Assert.That(File.GetUnixFileMode(output), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        HostProcess.Result dmesg = HostProcess.Run("/usr/sbin/vmcore-dmesg", [output], _work, TimeSpan.FromMinutes(2), Path.Combine(_work, $"from-{from}.dmesg"));
        Assert.That(dmesg.ExitCode, Is.Zero, dmesg.Output);
        Assert.That(File.ReadAllBytes(Path.Combine(_work, $"from-{from}.dmesg")), Is.EqualTo(File.ReadAllBytes(_dumps.VmcoreDmesg)));
    }

    [TestCase("zlib")]
    [TestCase("lzo")]
    [TestCase("none")]
    public void Makedumpfile_reads_the_log_from_our_kdump_output(string compression)
    {
        string output = Path.Combine(_work, $"ours.{compression}.kdump");
        var (code, _, error) = AnalyzerCliTests.Run("convert", "--to", "kdump", "-c", compression, "-q", _dumps.ElfVmcore, output);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);

        string dmesg = Path.Combine(_work, $"ours.{compression}.dmesg");
        HostProcess.Result run = HostProcess.Run("/usr/bin/makedumpfile", ["--dump-dmesg", output, dmesg], _work, TimeSpan.FromMinutes(2));

        Assert.That(run.ExitCode, Is.Zero, run.Output);
        Assert.That(File.ReadAllBytes(dmesg), Is.EqualTo(File.ReadAllBytes(_dumps.MakedumpfileDmesg)));
    }

    [TestCase("zlib")]
    [TestCase("lzo")]
    [TestCase("zstd")]
    [TestCase("snappy")]
    public void Drgn_reads_the_same_physical_memory_from_our_kdump_output(string compression)
    {
        string output = Path.Combine(_work, $"drgn.{compression}.kdump");
        var (code, _, error) = AnalyzerCliTests.Run("convert", "--to", "kdump", "-c", compression, "-q", _dumps.ElfVmcore, output);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);

        // Sample pages across all of RAM, read by drgn from our file and by our reader from the source ELF.
        using IDumpReader source = DumpFile.Open(_dumps.ElfVmcore);
        ulong[] frames = source.Memory.Ranges
            .SelectMany(r => new[] { r.Start.Frame.Value, (r.Start.Value + r.Length / 2) >> 12, (r.End.Value - 1) >> 12 })
            .Where(pfn => source.Memory.GetPageState(new PageFrameNumber(pfn)) == PageState.Present)
            .Distinct().ToArray();
        string script = "import sys, drgn\np = drgn.Program()\np.set_core_dump(sys.argv[1])\n" +
                        "for pfn in sys.argv[2:]:\n    print(p.read(int(pfn) * 4096, 4096, True).hex())\n";
        string scriptPath = Path.Combine(_work, "read.py");
        File.WriteAllText(scriptPath, script);
        HostProcess.Result run = HostProcess.Run("/usr/bin/python3", [scriptPath, output, .. frames.Select(f => f.ToString())], _work, TimeSpan.FromMinutes(2));

        Assert.That(run.ExitCode, Is.Zero, run.Output);
        string[] lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(frames.Length), run.Output);
        byte[] page = new byte[PageFrameNumber.PageSize];
        for (int i = 0; i < frames.Length; i++)
        {
            source.Memory.ReadPage(new PageFrameNumber(frames[i]), page);
            Assert.That(lines[i], Is.EqualTo(Convert.ToHexStringLower(page)), $"pfn 0x{frames[i]:x}");
        }
    }

    [Test]
    public void Convert_never_overwrites()
    {
        string output = Path.Combine(_work, "exists.elf");
        File.WriteAllText(output, "precious");

        var (code, _, error) = AnalyzerCliTests.Run("convert", "--to", "elf", _dumps.ElfVmcore, output);

        Assert.That(code, Is.EqualTo(ExitCodes.OutputError));
        Assert.That(error.Trim(), Does.StartWith("kds-analyzer: cannot create").And.Contain("never overwritten"));
        Assert.That(File.ReadAllText(output), Is.EqualTo("precious"));
    }
}
