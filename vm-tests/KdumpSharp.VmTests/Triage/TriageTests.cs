using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KdumpSharp.Analyzer;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Triage;

/// <summary>
/// Crash-grade triage from the dump alone (kallsyms, BTF and ORC read from the crashed kernel's
/// memory) on real sysrq crashes of each Debian kernel, in every format kds-analyzer opens. The
/// oracles are what the guest and its kernel said themselves: the guest's ps listing printed just
/// before the panic, the call trace the kernel printed in its panic log, and the symbol table of
/// Debian's debuginfo vmlinux (the packaged System.map is a one-line stub pointing at -dbg).
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed partial class TriageTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;
    private string _scratch = null!;
    private string _native = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(kernel);
        _scratch = Directory.CreateTempSubdirectory("kds-triage-").FullName;
        _native = Path.Combine(_scratch, "vmcore.kds");
        // Our native format, made from makedumpfile's level-31 file so it also lacks the filtered pages.
        (int code, _, string error) = Run("convert", _dumps.KdumpZlib.Path!, _native, "--to", "kds");
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
    }

    [OneTimeTearDown]
    public void RemoveScratch() => Directory.Delete(_scratch, recursive: true);

    public static IEnumerable<string> Formats() => ["elf", "kds", .. Enum.GetNames<DumpVariant>()];

    private string PathOf(string format) => format switch
    {
        "elf" => _dumps.ElfVmcore,
        "kds" => _native,
        _ => _dumps.Variant(Enum.Parse<DumpVariant>(format)).Path ?? throw new AssertionException($"makedumpfile produced no {format} file for {kernel}"),
    };

    [TestCaseSource(nameof(Formats))]
    public void Ps_lists_exactly_the_tasks_the_guest_listed(string format)
    {
        (int code, byte[] output, string error) = Run("ps", PathOf(format));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        List<PsRow> ours = ParseOurPs(Encoding.UTF8.GetString(output));
        List<PsRow> guest = ParseGuestPs(File.ReadAllLines(_dumps.ProcessListFile));
        Assert.That(guest, Has.Count.GreaterThan(40), "the guest's listing has the kernel threads too");
        var missing = new List<PsRow>();
        foreach (PsRow g in guest)
        {
            // The listing's own ps process exited before init wrote to sysrq-trigger.
            if (g.Comm == "ps")
            {
                Assert.That(ours.Any(o => o.Pid == g.Pid), Is.False, "ps had exited before the panic");
                continue;
            }
            PsRow? o = ours.FirstOrDefault(r => r.Pid == g.Pid);
            if (o is null)
            {
                missing.Add(g);
                continue;
            }
            Assert.That(o.ParentPid, Is.EqualTo(g.ParentPid), $"PPID of {g.Pid}");
            // /proc names a kworker after the workqueue it last ran, "kworker/0:0-events", or "+events" while it still
            // runs that work (kernel/workqueue.c wq_worker_comm), cut to 15 characters; task_struct.comm has neither.
            Assert.That(g.Comm == o.Comm || g.Comm.StartsWith(o.Comm + "-", StringComparison.Ordinal) || g.Comm.StartsWith(o.Comm + "+", StringComparison.Ordinal),
                Is.True, $"PID {g.Pid}: guest \"{g.Comm}\", ours \"{o.Comm}\"");
        }
        if (missing.Count > 0)
            ExplainMissingTasks(format, error, missing);
        var extra = ours.Where(o => guest.All(g => g.Pid != o.Pid)).ToList();
        Assert.That(extra.All(o => o.Pid == 0), Is.True, "only the idle tasks are not in /proc: " + string.Join(", ", extra.Select(e => $"{e.Pid} {e.Comm}")));
        Assert.That(extra.Select(e => e.Comm), Is.EquivalentTo(Enumerable.Range(0, _dumps.Manifest.Guest.Cpus).Select(c => $"swapper/{c}")));
        var running = ours.Where(o => o.Running).ToList();
        Assert.That(running, Has.Count.EqualTo(_dumps.Manifest.Guest.Cpus), "one running task per CPU");
        Assert.That(running.Single(r => r.Pid == 1).Comm, Is.EqualTo("init"), "init was writing to sysrq-trigger");
    }

    /// <summary>
    /// Tasks a makedumpfile level-31 file of a 6.12 crash may lack: 1.7.2 drops slab pages whose
    /// struct slab puts an odd int where page.mapping was (docs/format.md), and when such a page
    /// holds a task_struct the task list breaks there. That is allowed only if ps said the walk
    /// stopped at a page the dump level excluded, and only if our own level-31 capture of the same
    /// crash, which keeps those slab pages, lists every missing task.
    /// </summary>
    private void ExplainMissingTasks(string format, string error, List<PsRow> missing)
    {
        string names = string.Join(", ", missing.Select(m => $"{m.Pid} {m.Comm}"));
        AssertMakedumpfileMayCutTheTaskList(format, error, $"ps lacks {names}");

        string captureDirectory = Path.Combine(_scratch, "capture");
        var captureOutput = new StringWriter();
        var captureError = new StringWriter();
        if (!Directory.Exists(captureDirectory))
            Assert.That(KdumpSharp.Capture.CaptureCli.Run(["-q", "--host", "triage", "-d", captureDirectory, _dumps.ElfVmcore], captureOutput, captureError),
                Is.EqualTo(KdumpSharp.Capture.ExitCodes.Success), captureError.ToString());
        string capture = Directory.GetFiles(captureDirectory, "vmcore.kds", SearchOption.AllDirectories).Single();
        (int code, byte[] output, string psError) = Run("ps", capture);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), psError);
        Assert.That(psError, Does.Not.Contain("excluded by the dump level"), "our level-31 capture keeps every page of the task list");
        List<PsRow> complete = ParseOurPs(Encoding.UTF8.GetString(output));
        foreach (PsRow m in missing)
            Assert.That(complete.Any(c => c.Pid == m.Pid && c.ParentPid == m.ParentPid), Is.True, $"our own level-31 capture lacks PID {m.Pid} ({m.Comm}) too");
        TestContext.Out.WriteLine($"{kernel} {format}: makedumpfile 1.7.2's level-31 file lost {missing.Count} tasks ({names}); our level-31 capture has them");
    }

    /// <summary>Only a makedumpfile file of 6.12 may lack part of the task list, and only where the tool that read it
    /// (<paramref name="report"/>: its warnings or problems) says the walk crossed a page the dump level excluded.</summary>
    private void AssertMakedumpfileMayCutTheTaskList(string format, string report, string symptom)
    {
        Assert.That(format, Is.Not.EqualTo("elf"), $"the ELF vmcore has every page, yet {symptom}");
        Assert.That(kernel, Is.Not.EqualTo(TestKernel.Debian61), $"makedumpfile 1.7.2 keeps every slab page of 6.1, yet {symptom}");
        Assert.That(report, Does.Contain("init_task.tasks: ").And.Contain("page excluded by the dump level"),
            $"{symptom} without saying the task list crossed an excluded page");
    }

    [TestCaseSource(nameof(Formats))]
    public void Bt_of_the_panic_task_matches_the_kernels_own_call_trace(string format)
    {
        (int code, byte[] output, string error) = Run("bt", PathOf(format));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        string text = Encoding.UTF8.GetString(output);
        Assert.That(text, Does.StartWith("PID: 1 "), text);
        Assert.That(text, Does.Contain("COMMAND: \"init\""));
        Assert.That(text, Does.Not.Contain("backtrace stopped"), text);
        List<string> ours = FrameRegex().Matches(text).Select(m => m.Groups[1].Value).ToList();
        List<string> kernels = KernelCallTrace(File.ReadAllText(_dumps.VmcoreDmesg));
        // The kernel printed its trace from dump_stack() inside panic(); ours starts where the CPU
        // saved its registers, in __crash_kexec called by panic(). From panic's caller on they are the same frames at the same offsets.
        int ourPanic = ours.FindIndex(f => f.StartsWith("panic+", StringComparison.Ordinal));
        int kernelPanic = kernels.FindIndex(f => f.StartsWith("panic+", StringComparison.Ordinal));
        Assert.That(ourPanic, Is.EqualTo(1), string.Join(" ", ours));
        Assert.That(ours[0], Does.StartWith("__crash_kexec+"));
        Assert.That(kernelPanic, Is.GreaterThanOrEqualTo(0), string.Join(" ", kernels));
        Assert.That(ours.Skip(ourPanic + 1), Is.EqualTo(kernels.Skip(kernelPanic + 1)), $"ours: {string.Join(" ", ours)}\nkernel: {string.Join(" ", kernels)}");
        Assert.That(ours[^1], Does.StartWith("entry_SYSCALL_64_after_hwframe+"));
        Assert.That(text, Does.Contain("CS: 0000000000000033"), "the user-mode registers of the write() syscall end the trace");
    }

    [Test]
    public void Bt_of_every_task_reaches_the_bottom_of_its_stack()
    {
        (int code, byte[] output, string error) = Run("ps", _dumps.ElfVmcore);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        foreach (PsRow task in ParseOurPs(Encoding.UTF8.GetString(output)).Where(t => t.Pid != 0))
        {
            (int btCode, byte[] bt, string btError) = Run("bt", _dumps.ElfVmcore, task.Pid.ToString(CultureInfo.InvariantCulture));
            string text = Encoding.UTF8.GetString(bt);
            Assert.That(btCode, Is.EqualTo(ExitCodes.Success), btError);
            Assert.That(text, Does.Not.Contain("backtrace stopped"), text);
            List<string> frames = FrameRegex().Matches(text).Select(m => m.Groups[1].Value).ToList();
            Assert.That(frames.Last(), Does.StartWith("ret_from_fork").Or.StartWith("entry_SYSCALL_64_after_hwframe"), text);
            if (task.Pid != 1)
                Assert.That(frames.Any(f => f.StartsWith("schedule+", StringComparison.Ordinal) || f.StartsWith("__schedule+", StringComparison.Ordinal)), Is.True, text);
        }
    }

    [Test]
    public void Sym_agrees_with_the_debuginfo_vmlinux_after_the_kaslr_offset()
    {
        string vmlinux = DebugInfo.Vmlinux(kernel.Release, TestContext.Progress.WriteLine);
        Dictionary<string, ulong> nm = Nm(vmlinux, ["panic", "init_task", "schedule", "jiffies", "sysrq_handle_crash", "_stext", "__start_BTF"]);
        ulong kaslr = ulong.Parse(Vmcoreinfo().Get("KERNELOFFSET")!, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.That(kaslr, Is.Not.Zero, "Debian kernels boot randomized");
        foreach ((string name, ulong linked) in nm)
        {
            (int code, byte[] output, string error) = Run("sym", _dumps.KdumpZlib.Path!, name);
            Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
            Assert.That(Encoding.UTF8.GetString(output), Does.StartWith($"{linked + kaslr:x16} "), name);
        }
        (int c2, byte[] o2, _) = Run("sym", _dumps.ElfVmcore, $"{nm["panic"] + kaslr + 0x10:x}");
        Assert.That(c2, Is.EqualTo(ExitCodes.Success));
        Assert.That(Encoding.UTF8.GetString(o2), Does.Contain("panic+0x10/"));
    }

    [TestCaseSource(nameof(Formats))]
    public void Triage_names_the_panic_the_task_its_backtrace_and_the_memory(string format)
    {
        (int code, byte[] output, string error) = Run("triage", "--json", PathOf(format));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.That(root.GetProperty("panic").GetString(), Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
        Assert.That(root.GetProperty("reason").GetString(), Is.EqualTo("Sysrq"));
        Assert.That(root.GetProperty("cpu").GetInt32(), Is.EqualTo(BannerCpu()), "panic_cpu agrees with the oops banner");
        Assert.That(root.GetProperty("pid").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("comm").GetString(), Is.EqualTo("init"));
        Assert.That(root.GetProperty("taint").GetString(), Is.EqualTo("Not tainted"), "the banner says \"Not tainted\"");
        List<string> functions = root.GetProperty("backtrace").EnumerateArray().Select(f => f.GetProperty("function").GetString()!).ToList();
        Assert.That(functions.Skip(1).Take(2), Is.EqualTo(new[] { "panic", "sysrq_handle_crash" }));
        JsonElement memory = root.GetProperty("memory_bytes");
        ulong total = memory.GetProperty("total").GetUInt64();
        ulong guestRam = (ulong)_dumps.Manifest.Guest.MemoryMiB << 20;
        Assert.That(total, Is.InRange(guestRam / 3, guestRam), "totalram is RAM minus the crashkernel reservation and the kernel image");
        Assert.That(memory.GetProperty("free").GetUInt64(), Is.InRange(1UL, total));
        Assert.That(memory.GetProperty("slab").GetUInt64(), Is.InRange(1UL, total));
        int tasks = root.GetProperty("tasks").GetInt32();
        List<string> problems = root.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!).ToList();
        if (problems.Any(p => p.StartsWith("tasks: init_task.tasks: ", StringComparison.Ordinal)))
            AssertTaskListCutByMakedumpfile(format, tasks, problems);
        else
            Assert.That(tasks, Is.GreaterThan(40), "the guest ran more than 40 tasks, kernel threads included");
        List<string> tail = root.GetProperty("log_tail").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.That(tail, Has.Count.EqualTo(KdumpSharp.Analysis.TriageReport.LogTailLines));
        Assert.That(File.ReadAllText(_dumps.VmcoreDmesg), Does.EndWith(string.Join("\n", tail) + "\n"), "the tail is the end of vmcore-dmesg's log");
        foreach (string problem in problems)
            Assert.That(problem, Does.Contain("excluded by the dump level"), "only filtered pages may be missing");
        if (format == "elf")
            Assert.That(problems, Is.Empty, "a full ELF vmcore lacks nothing");
    }

    /// <summary>
    /// A makedumpfile level-31 file of a 6.12 crash may cut the task list where 1.7.2 dropped a slab page
    /// holding a task_struct (see <see cref="ExplainMissingTasks"/>; how many tasks that costs depends on
    /// where the guest's slab put them). Triage must then say so and count the tasks ps reads from the same file.
    /// </summary>
    private void AssertTaskListCutByMakedumpfile(string format, int tasks, List<string> problems)
    {
        AssertMakedumpfileMayCutTheTaskList(format, string.Join("\n", problems), $"triage counts {tasks} tasks");
        (int code, byte[] output, string error) = Run("ps", PathOf(format));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        Assert.That(ParseOurPs(Encoding.UTF8.GetString(output)), Has.Count.EqualTo(tasks), "triage counts the tasks ps lists");
    }

    [Test]
    public void Triage_of_a_cut_short_native_dump_lists_what_is_missing_instead_of_failing()
    {
        string cut = Path.Combine(_scratch, "cut.kds");
        byte[] whole = File.ReadAllBytes(_native);
        File.WriteAllBytes(cut, whole[..(whole.Length / 2)]);
        (int code, byte[] output, string error) = Run("triage", "--json", cut);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        using JsonDocument doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("incomplete").GetBoolean(), Is.True);
        List<string> problems = doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.That(problems, Is.Not.Empty);
        Assert.That(problems.Any(p => p.Contains("the dump is incomplete", StringComparison.Ordinal)), Is.True, string.Join("\n", problems));
    }

    [TestCaseSource(nameof(Formats))]
    public void Mod_lists_the_modules_the_guest_loaded_with_their_symbols(string format)
    {
        (int code, byte[] output, string error) = Run("mod", "--symbols", PathOf(format));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), error);
        string text = Encoding.UTF8.GetString(output);
        var rows = ModuleRowRegex().Matches(text).Select(m => (Name: m.Groups[1].Value, Base: ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            Size: ulong.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture))).ToList();
        // The guest's init loaded these with insmod; the kernel names a module after its file, '-' as '_'.
        var loaded = _dumps.Manifest.LoadedModules.Select(p => Path.GetFileName(p).Split('.')[0].Replace('-', '_')).ToList();
        Assert.That(rows.Select(r => r.Name), Is.EquivalentTo(loaded));
        var blk = rows.Single(r => r.Name == "virtio_blk");
        Match probe = Regex.Match(text, @"^    ([0-9a-f]{16}) \(t\) virtblk_probe$", RegexOptions.Multiline);
        Assert.That(probe.Success, Is.True, "virtio_blk's own symbols are listed");
        Assert.That(ulong.Parse(probe.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture), Is.InRange(blk.Base, blk.Base + blk.Size - 1));
    }

    [Test]
    public void Module_code_resolves_to_the_modules_symbols_and_its_orc_table_reads()
    {
        using var dump = KdumpSharp.Analysis.KernelDump.Open(_dumps.ElfVmcore);
        var context = new KdumpSharp.Analysis.KernelContext(dump);
        var stacks = new KdumpSharp.Unwind.KernelStacks(context);
        var (modules, problems) = KdumpSharp.Modules.ModuleList.Read(context, withSymbols: true);
        Assert.That(problems, Is.Empty);
        KdumpSharp.Symbols.KernelSymbol probe = modules.Single(m => m.Name == "virtio_blk").Symbols!.Single(s => s.Name == "virtblk_probe");
        Assert.That(stacks.ModuleOf(probe.Address + 4), Is.EqualTo("virtio_blk"));
        Assert.That(stacks.Symbol(probe.Address + 4)?.ToString(), Is.EqualTo("virtblk_probe+0x4"));
        Assert.That(stacks.ModuleProblems, Is.Empty, "every module's ORC table parsed (sorted, sizes agree)");
        Assert.That(stacks.ModuleOf(context.Symbols.RequireAddress("panic")), Is.Null);
    }

    [GeneratedRegex(@"^[0-9a-f]{16}  (\w+)\s+([0-9a-f]{16})\s+(\d+)\s+\d+$", RegexOptions.Multiline)]
    private static partial Regex ModuleRowRegex();

    private int BannerCpu()
    {
        Match m = Regex.Match(File.ReadAllText(_dumps.VmcoreDmesg), @"\] CPU: (\d+) (UID: \d+ )?PID: 1 Comm: init");
        Assert.That(m.Success, Is.True, "the oops banner is in the log");
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private KdumpSharp.Kernel.Vmcoreinfo Vmcoreinfo()
    {
        using var dump = KdumpSharp.Dumps.DumpFile.Open(_dumps.ElfVmcore);
        return dump.Vmcoreinfo!;
    }

    private static Dictionary<string, ulong> Nm(string vmlinux, string[] names)
    {
        var psi = new ProcessStartInfo("nm", [vmlinux]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process nm = Process.Start(psi) ?? throw new AssertionException("cannot start nm (binutils)");
        var found = new Dictionary<string, ulong>();
        while (nm.StandardOutput.ReadLine() is string line)
        {
            string[] f = line.Split(' ');
            if (f.Length == 3 && names.Contains(f[2]) && !found.ContainsKey(f[2]))
                found[f[2]] = ulong.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        nm.WaitForExit();
        Assert.That(nm.ExitCode, Is.Zero, "nm failed");
        Assert.That(found.Keys, Is.EquivalentTo(names), "nm lists every probe symbol");
        return found;
    }

    /// <summary>The frames of the first call trace after "Kernel panic", without the "?" guesses, as "name+0xoff".</summary>
    internal static List<string> KernelCallTrace(string dmesg)
    {
        var frames = new List<string>();
        bool inPanic = false, inTrace = false;
        foreach (string line in dmesg.Split('\n'))
        {
            if (line.Contains("Kernel panic - not syncing", StringComparison.Ordinal))
                inPanic = true;
            else if (inPanic && line.Contains("Call Trace:", StringComparison.Ordinal))
                inTrace = true;
            else if (inTrace)
            {
                if (line.Contains("</TASK>", StringComparison.Ordinal) || line.Contains(" RIP: ", StringComparison.Ordinal))
                    break;
                Match m = KernelFrameRegex().Match(line);
                if (m.Success)
                    frames.Add(m.Groups[1].Value);
            }
        }
        return frames;
    }

    private sealed record PsRow(int Pid, int ParentPid, string Comm, bool Running);

    private static List<PsRow> ParseOurPs(string text) =>
        text.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l =>
        {
            string[] f = l[1..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new PsRow(int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), f[5].Trim('[', ']'), l[0] == '>');
        }).ToList();

    private static List<PsRow> ParseGuestPs(string[] lines) =>
        lines.Skip(1).Where(l => l.Trim().Length > 0).Select(l =>
        {
            string[] f = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new PsRow(int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), f[3], false);
        }).ToList();

    internal static (int Code, byte[] Output, string Error) Run(params string[] args)
    {
        using var output = new MemoryStream();
        var error = new StringWriter();
        int code = AnalyzerCli.Run(args, output, error);
        return (code, output.ToArray(), error.ToString());
    }

    [GeneratedRegex(@"^ #\d+\s+\[[0-9a-f]+\] (\S+) at ", RegexOptions.Multiline)]
    private static partial Regex FrameRegex();

    [GeneratedRegex(@"^\[[ 0-9.]+\]  ([A-Za-z_][\w.]*\+0x[0-9a-f]+)/0x[0-9a-f]+")]
    private static partial Regex KernelFrameRegex();
}
