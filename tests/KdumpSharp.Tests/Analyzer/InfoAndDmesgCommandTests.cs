using KdumpSharp.Analyzer;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Analyzer;

/// <summary>
/// info and dmesg on a dump that has page tables but no log or utsname symbols: info still says
/// what it can and lists what it could not read; dmesg fails with one line. Real kernels' output
/// is checked against vmcore-dmesg in vm-tests.
/// </summary>
public class InfoAndDmesgCommandTests
{
    [Test]
    public void Info_reports_what_it_can_and_names_what_is_missing()
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());

        var (code, output, error) = cli.Run("info", dump);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(output, Does.Contain("FORMAT: ELF vmcore"));
        Assert.That(output, Does.Contain("RELEASE: 6.1.0-test"));
        Assert.That(output, Does.Contain("CPUS: 1"));
        Assert.That(output, Does.Contain("MEMORY: 31.6 MiB"));
        Assert.That(output, Does.Contain("CRASH TIME: 2023-11-14 22:13:20 UTC"));
        Assert.That(output, Does.Contain("PROBLEM: utsname: neither the container nor init_uts_ns in memory"));
        Assert.That(output, Does.Contain("PROBLEM: kernel log:"));
    }

    [Test]
    public void Info_json_is_valid_and_carries_the_same_facts()
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());

        var (code, output, _) = cli.Run("info", "--json", dump);

        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("release").GetString(), Is.EqualTo("6.1.0-test"));
        Assert.That(doc.RootElement.GetProperty("format").GetString(), Is.EqualTo("Elf"));
        Assert.That(doc.RootElement.GetProperty("crash_time").GetString(), Is.EqualTo("2023-11-14T22:13:20Z"));
        Assert.That(doc.RootElement.GetProperty("panic").ValueKind, Is.EqualTo(System.Text.Json.JsonValueKind.Null));
        Assert.That(doc.RootElement.GetProperty("problems").GetArrayLength(), Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public void Dmesg_without_log_symbols_fails_with_one_line()
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());

        var (code, output, error) = cli.Run("dmesg", dump);

        Assert.That(code, Is.EqualTo(ExitCodes.DataUnavailable));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(error, Does.StartWith("kds-analyzer: ").And.Contain("prb").Or.Contain("log_buf"));
    }

    [Test]
    public void Dmesg_falls_back_to_the_log_kds_capture_saved_when_its_pages_are_lost()
    {
        var machine = new KernelImageFixture();
        byte[] notes;
        using (var elf = new KdumpSharp.Dumps.Elf.ElfVmcoreReader(new KdumpSharp.IO.MemorySource("elf", machine.ToElfCore())))
            notes = KdumpSharp.Dumps.Native.NativeDumpWriter.SerializeNotes(elf);
        using var file = new MemoryStream();
        using (var writer = new KdumpSharp.Dumps.Native.NativeDumpWriter(file, [KdumpSharp.Memory.PhysicalRange.FromLength(0, KernelImageFixture.RamSize)], notes))
        {
            // A capture cut off after the dmesg: no page made it, so the log in memory is gone.
            writer.WriteDmesg("[    1.000000] saved before the pages\n"u8);
            writer.Complete();
        }
        using var cli = new CliHarness();

        var (code, output, error) = cli.Run("dmesg", cli.WriteFile("vmcore.kds", file.ToArray()));

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(output, Is.EqualTo("[    1.000000] saved before the pages\n"));
        Assert.That(error, Does.Contain("printed the copy kds-capture saved"));
    }
}
