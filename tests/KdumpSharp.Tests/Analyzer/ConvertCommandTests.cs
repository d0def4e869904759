using KdumpSharp.Analyzer;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.Tests.Fuzzing;

namespace KdumpSharp.Tests.Analyzer;

/// <summary>convert --to kds on the fuzzing ELF seed (a small machine with page tables and a printk ring).</summary>
public class ConvertCommandTests
{
    private static byte[] ElfWithLog() => FuzzSeeds.All().First(s => s.Name == "ELF").File;

    [TestCase(null, "lz4")]
    [TestCase("zstd", "zstd")]
    [TestCase("none", "none")]
    public void Convert_to_kds_keeps_the_log_and_says_what_it_wrote(string? compress, string expected)
    {
        using var cli = new CliHarness();
        string elf = cli.WriteFile("vmcore", ElfWithLog());
        string kds = cli.PathOf("vmcore.kds");
        string[] args = compress is null ? ["convert", elf, kds, "--to", "kds"] : ["convert", elf, kds, "--to", "kds", "--compress", compress];

        var (code, output, error) = cli.Run(args);

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(output, Does.Match(@"vmcore\.kds: KdumpSharp native, \d+ pages stored \(\d+ copies, \d+ zero, 0 excluded, 0 unreadable, 0 lost\), \d+ chunks, \d+ MiB\n"));
        Assert.That(cli.Run("dmesg", kds), Is.EqualTo(cli.Run("dmesg", elf)));
        Assert.That(cli.Run("info", kds).Out, Does.Contain($"FORMAT: KdumpSharp native, version 1, compression {expected}"));
        using var reader = (NativeDumpReader)DumpFile.Open(kds);
        Assert.That(System.Text.Encoding.ASCII.GetString(reader.Dmesg!.Value.Span), Is.EqualTo(cli.Run("dmesg", elf).Out), "the dmesg saved in the file is what dmesg prints");
    }

    [TestCase("kds", "lzo", "--to kds stores pages as lz4, zstd or none, not lzo")]
    [TestCase("kdump", "lz4", "--to kdump cannot store lz4 pages")]
    public void Codecs_a_format_lacks_are_usage_errors(string format, string compress, string message)
    {
        using var cli = new CliHarness();
        string elf = cli.WriteFile("vmcore", ElfWithLog());

        var (code, _, error) = cli.Run("convert", elf, cli.PathOf("out"), "--to", format, "--compress", compress);

        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.StartWith("kds-analyzer: ").And.Contain(message));
        Assert.That(File.Exists(cli.PathOf("out")), Is.False);
    }
}
