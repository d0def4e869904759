using System.Text.Json;
using KdumpSharp.Analyzer;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Analyzer;

/// <summary>The symbol-using commands on a dump whose VMCOREINFO has no kallsyms (a pre-6.0 kernel).</summary>
public class TriageCommandTests
{
    [TestCase("sym", "panic")]
    [TestCase("struct", "task_struct")]
    [TestCase("ps")]
    [TestCase("bt")]
    [TestCase("mod")]
    public void Without_kallsyms_each_command_says_so_in_one_line_with_exit_6(string command, params string[] rest)
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());

        var (code, output, error) = cli.Run([command, dump, .. rest]);

        Assert.That(code, Is.EqualTo(ExitCodes.DataUnavailable));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(error, Does.Contain("no kallsyms tables"));
    }

    [Test]
    public void Triage_still_reports_what_it_can_and_lists_the_missing_symbols()
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());

        var (code, output, error) = cli.Run("triage", "--json", dump);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        using JsonDocument doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("crash_time").GetString(), Is.EqualTo("2023-11-14T22:13:20Z"));
        var problems = doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).ToList();
        Assert.That(problems, Has.Some.StartsWith("kallsyms: "));
    }

    [Test]
    public void A_system_map_replaces_kallsyms_and_is_relocated_by_kernel_offset()
    {
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", new KernelImageFixture().ToElfCore());
        string map = cli.WriteFile("System.map", "ffffffff81000000 T _text\nffffffff81a01cb0 T panic\nffffffff81a02000 T after_panic\n"u8.ToArray());

        var (code, output, error) = cli.Run("sym", dump, "ffffffff81a01cc0", "--system-map", map);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(output.TrimEnd(), Is.EqualTo("ffffffff81a01cc0 (T) panic+0x10/0x350"));
    }
}
