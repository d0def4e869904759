using System.Text;
using System.Text.Json;
using KdumpSharp.Analyzer;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Analyzer;

/// <summary>
/// kds-analyzer on real crashes of each Debian kernel, in every format the peers wrote: the ELF
/// copy of /proc/vmcore and makedumpfile's kdump-compressed (zlib, lzo, uncompressed), flattened
/// and ELF outputs. The oracle is Debian's vmcore-dmesg run on the ELF vmcore, and the marker the
/// guest wrote to /dev/kmsg just before it panicked.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class AnalyzerCliTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps() => _dumps = TestDumps.Get(kernel);

    public static IEnumerable<string> Formats() => ["elf", .. Enum.GetNames<DumpVariant>()];

    private string PathOf(string format) =>
        format == "elf" ? _dumps.ElfVmcore : _dumps.Variant(Enum.Parse<DumpVariant>(format)).Path
            ?? throw new AssertionException($"makedumpfile produced no {format} file for {kernel}");

    [TestCaseSource(nameof(Formats))]
    public void Dmesg_is_byte_identical_to_vmcore_dmesg(string format)
    {
        (int code, byte[] output, string error) = Run("dmesg", PathOf(format));

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(error, Is.Empty);
        byte[] expected = File.ReadAllBytes(_dumps.VmcoreDmesg);
        Assert.That(output.Length, Is.EqualTo(expected.Length), "length");
        Assert.That(output.AsSpan().SequenceEqual(expected), Is.True, $"first difference at byte {output.AsSpan().CommonPrefixLength(expected)}");
        Assert.That(Encoding.UTF8.GetString(output), Does.Contain(_dumps.Marker));
    }

    [TestCaseSource(nameof(Formats))]
    public void Info_names_the_release_and_the_sysrq_panic(string format)
    {
        (int code, byte[] output, string error) = Run("info", "--json", PathOf(format));

        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.That(root.GetProperty("release").GetString(), Is.EqualTo(kernel.Release));
        Assert.That(root.GetProperty("machine").GetString(), Is.EqualTo("x86_64"));
        Assert.That(root.GetProperty("version").GetString(), Does.StartWith("#1 SMP PREEMPT_DYNAMIC Debian"));
        Assert.That(root.GetProperty("cpus").GetInt32(), Is.EqualTo(_dumps.Manifest.Guest.Cpus));
        Assert.That(root.GetProperty("incomplete").GetBoolean(), Is.False);
        Assert.That(root.GetProperty("problems").GetArrayLength(), Is.Zero, root.GetProperty("problems").ToString());
        JsonElement panic = root.GetProperty("panic");
        Assert.That(panic.GetProperty("message").GetString(), Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
        Assert.That(panic.GetProperty("reason").GetString(), Is.EqualTo("Sysrq"));
        Assert.That(panic.GetProperty("cause").GetString(), Is.EqualTo("sysrq: Trigger a crash"));
        Assert.That(panic.GetProperty("comm").GetString(), Is.EqualTo("init"), "the guest's init script writes to sysrq-trigger");
        long crashTime = DateTimeOffset.Parse(root.GetProperty("crash_time").GetString()!).ToUnixTimeSeconds();
        long created = _dumps.Manifest.Created.ToUnixTimeSeconds();
        Assert.That(crashTime, Is.InRange(created - 600, created), "CRASHTIME is the guest clock at the panic, minutes before the harness finished");
    }

    [Test]
    public void Rd_reads_the_same_kernel_memory_from_every_format()
    {
        // init_uts_ns holds "Linux" then the release, in the kernel image: reached through each dump's own page tables.
        string address = Vmcoreinfo().RequireSymbol("init_uts_ns").ToString("x");
        string? reference = null;
        foreach (string format in Formats())
        {
            (int code, byte[] output, string error) = Run("rd", "-w", "1", PathOf(format), address, "256");
            Assert.That(code, Is.EqualTo(ExitCodes.Success), $"{format}: {error}");
            string text = Encoding.UTF8.GetString(output);
            Assert.That(text, Does.Contain("Linux..."), format);
            reference ??= text;
            Assert.That(text, Is.EqualTo(reference), format);
        }
    }

    [Test]
    public void Rd_reports_an_excluded_page_instead_of_zeros()
    {
        // makedumpfile -d 31 drops free pages; find one in the zlib file and ask for it by physical address.
        using var dump = KdumpSharp.Dumps.DumpFile.Open(_dumps.KdumpZlib.Path!);
        ulong excluded = dump.Memory.Ranges
            .SelectMany(r => Enumerable.Range(0, (int)(r.Length >> 12)).Select(i => r.Start.Frame.Value + (ulong)i))
            .First(pfn => dump.Memory.GetPageState(new(pfn)) == KdumpSharp.Memory.PageState.Excluded);

        (int code, byte[] output, string error) = Run("rd", "-p", _dumps.KdumpZlib.Path!, $"{excluded << 12:x}", "16");

        Assert.That(code, Is.EqualTo(ExitCodes.DataUnavailable));
        Assert.That(output, Is.Empty);
        Assert.That(error.Trim(), Is.EqualTo($"kds-analyzer: physical address 0x{excluded << 12:x}: page excluded by the dump level"));
    }

    private KdumpSharp.Kernel.Vmcoreinfo Vmcoreinfo()
    {
        using var dump = KdumpSharp.Dumps.DumpFile.Open(_dumps.ElfVmcore);
        return dump.Vmcoreinfo!;
    }

    internal static (int Code, byte[] Output, string Error) Run(params string[] args)
    {
        using var output = new MemoryStream();
        var error = new StringWriter();
        int code = AnalyzerCli.Run(args, output, error);
        return (code, output.ToArray(), error.ToString());
    }
}
