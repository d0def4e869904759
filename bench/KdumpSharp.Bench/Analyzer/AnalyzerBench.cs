using KdumpSharp.Bench.Inputs;
using KdumpSharp.Bench.Measurement;
using KdumpSharp.Dumps;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench.Analyzer;

/// <summary>The knobs of <c>kds-bench analyzer</c>.</summary>
internal sealed record AnalyzerBenchOptions
{
    public int Warmup { get; init; } = 2;
    public int Runs { get; init; } = 10;
    public int ColdRuns { get; init; } = 3;

    /// <summary>crash spends tens of seconds loading DWARF per run, so it gets its own, smaller counts.</summary>
    public int CrashRuns { get; init; } = 3;
    public int CrashColdRuns { get; init; } = 1;
    public bool Crash { get; init; } = true;

    /// <summary>Add a harness dump of a guest this big (0: none). Ignored when dumps are given.</summary>
    public int BigMemoryMiB { get; init; } = 4096;

    /// <summary>Dumps to use instead of the harness's.</summary>
    public IReadOnlyList<string> Dumps { get; init; } = [];

    /// <summary>Debuginfo vmlinux files for crash, matched to dumps by build ID, before any download.</summary>
    public IReadOnlyList<string> Vmlinux { get; init; } = [];

    /// <summary>The kds-analyzer apphost; default the Release build in this checkout.</summary>
    public string? Analyzer { get; init; }
}

/// <summary>
/// Times kds-analyzer info, dmesg and triage against the peers that answer the same question on the same
/// file: vmcore-dmesg (ELF only), makedumpfile --dump-dmesg, and crash with a debuginfo vmlinux.
/// Every tool is a separate process with stdout on /dev/null, measured by <see cref="MeasuredProcess"/>.
/// </summary>
internal sealed class AnalyzerBench(AnalyzerBenchOptions options, Action<string> progress) : IDisposable
{
    public const string VmcoreDmesg = "/usr/sbin/vmcore-dmesg";
    public const string Makedumpfile = "/usr/bin/makedumpfile";
    public const string Crash = "/usr/bin/crash";

    private readonly string _scratch = Directory.CreateTempSubdirectory("kds-bench-").FullName;
    private readonly Dictionary<string, (string? Path, string? Problem)> _debugVmlinux = [];
    private readonly HashSet<string> _strippedTried = [];

    public AnalyzerReport Run()
    {
        string analyzer = Path.GetFullPath(options.Analyzer ?? RepositoryPaths.ReleaseAnalyzer);
        if (!File.Exists(analyzer))
            throw new FileNotFoundException($"no kds-analyzer at {analyzer}: build it with 'dotnet build src/Analyzer -c Release' or pass --analyzer");
        BenchEnvironment before = BenchEnvironment.Capture(analyzer);

        List<BenchDump> dumps = options.Dumps.Count > 0
            ? options.Dumps.Select(p => BenchDump.Describe(p)).ToList()
            : [.. HarnessDumps.Standard(progress), .. options.BigMemoryMiB > 0 ? [HarnessDumps.Big(options.BigMemoryMiB, progress)] : Array.Empty<BenchDump>()];

        List<BenchCase> cases = [StartUpCase(analyzer), .. dumps.SelectMany(d => Cases(d, analyzer))];
        var results = new List<CaseResult>();
        foreach (BenchCase c in cases)
            results.Add(RunCase(c));
        return new AnalyzerReport(before, BenchEnvironment.CurrentLoadAverage(), options, PageCache.CanDrop, dumps, results);
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private RunPlan Plan => new(options.Warmup, options.Runs, options.ColdRuns);
    private RunPlan CrashPlan => new(Math.Min(1, options.Warmup), options.CrashRuns, options.CrashColdRuns);

    private BenchCase StartUpCase(string analyzer) =>
        new(null, Question.StartUp, "kds-analyzer --version", true, new CommandLine(analyzer, ["--version"]), Plan);

    private IEnumerable<BenchCase> Cases(BenchDump dump, string analyzer)
    {
        string[] cached = [dump.Path];
        yield return new BenchCase(dump, Question.Dmesg, "kds-analyzer dmesg", true, new CommandLine(analyzer, ["dmesg", dump.Path]), Plan)
            { CachedInputs = cached };
        if (dump.Format == DumpFormat.Elf)
            yield return new BenchCase(dump, Question.Dmesg, "vmcore-dmesg", false, new CommandLine(VmcoreDmesg, [dump.Path]), Plan)
                { CachedInputs = cached };
        string output = Path.Combine(_scratch, "makedumpfile-dmesg.txt");
        yield return new BenchCase(dump, Question.Dmesg, "makedumpfile --dump-dmesg", false,
            new CommandLine(Makedumpfile, ["--dump-dmesg", dump.Path, output]), Plan) { OutputFiles = [output], CachedInputs = cached };
        if (dump.Format == DumpFormat.Flattened)
        {
            // makedumpfile reads a flattened stream only through -R, which writes the whole dump back out first.
            string rearranged = Path.Combine(_scratch, "rearranged.kdump");
            yield return new BenchCase(dump, Question.Dmesg, "makedumpfile -R, then --dump-dmesg (sh -c)", false,
                new CommandLine("/bin/sh", ["-c", $"{Makedumpfile} -R \"$1\" < \"$2\" && {Makedumpfile} --dump-dmesg \"$1\" \"$3\"", "sh", rearranged, dump.Path, output]),
                Plan) { OutputFiles = [rearranged, output], CachedInputs = cached };
        }

        bool crash = options.Crash && dump.Format == DumpFormat.Elf;
        if (crash)
        {
            (string? vmlinux, string? problem) = DebugVmlinuxFor(dump);
            foreach ((string tool, string[] extra) in new[] { ("crash: log", Array.Empty<string>()), ("crash --minimal: log", ["--minimal"]) })
                yield return CrashCase(dump, Question.Dmesg, tool, vmlinux, problem, extra, "log");
            if (dump.Vmlinuz is not null && dump.Release is not null && _strippedTried.Add(dump.Release))
            {
                // crash always wants a vmlinux; this is the one every installed kernel has, without DWARF.
                string? stripped = null;
                string? why = null;
                try
                {
                    stripped = KernelImages.StrippedVmlinux(dump.Release, dump.Vmlinuz);
                }
                catch (Exception e) when (e is IOException or InvalidDataException)
                {
                    why = $"cannot extract the vmlinux from {dump.Vmlinuz}: {e.Message}";
                }
                foreach ((string tool, string[] extra) in new[] { ("crash: log, vmlinux from the bzImage (no debuginfo)", Array.Empty<string>()),
                             ("crash --minimal: log, vmlinux from the bzImage (no debuginfo)", ["--minimal"]) })
                    yield return CrashCase(dump, Question.Dmesg, tool, stripped, why, extra, "log") with { Plan = new RunPlan(0, 1, 0) };
            }
        }

        yield return new BenchCase(dump, Question.Info, "kds-analyzer info", true, new CommandLine(analyzer, ["info", dump.Path]), Plan)
            { CachedInputs = cached };
        if (crash)
        {
            (string? vmlinux, string? problem) = DebugVmlinuxFor(dump);
            yield return CrashCase(dump, Question.Info, "crash: sys", vmlinux, problem, [], "sys");
        }

        // What panicked, which task, where: kds-analyzer from the dump's own kallsyms, BTF and ORC;
        // crash needs the debuginfo vmlinux for the same answers.
        yield return new BenchCase(dump, Question.Triage, "kds-analyzer triage", true, new CommandLine(analyzer, ["triage", dump.Path]), Plan)
            { CachedInputs = cached };
        if (crash)
        {
            (string? vmlinux, string? problem) = DebugVmlinuxFor(dump);
            yield return CrashCase(dump, Question.Triage, "crash: sys; ps; bt", vmlinux, problem, [], "sys\nps\nbt", "triage");
        }
    }

    private BenchCase CrashCase(BenchDump dump, Question question, string tool, string? vmlinux, string? problem, string[] flags, string command, string? scriptName = null)
    {
        string commands = Path.Combine(_scratch, $"{scriptName ?? command}.crash");
        File.WriteAllText(commands, $"{command}\nexit\n");
        return new BenchCase(dump, question, tool, false,
            vmlinux is null ? null : new CommandLine(Crash, [.. flags, "-s", vmlinux, dump.Path, "-i", commands]), CrashPlan)
        {
            NotRun = vmlinux is null ? problem : null,
            CachedInputs = [dump.Path],
            // crash -s can exit 1 saying nothing; -d 1 prints the error it stopped at.
            Diagnose = vmlinux is null ? null
                : new Diagnosis(new CommandLine(Crash, [.. flags, "-d", "1", vmlinux, dump.Path, "-i", commands]), "with -d 1 instead of -s it prints"),
        };
    }

    /// <summary>A --vmlinux whose build ID is the dump's, else Debian's debuginfo package for the dump's release.</summary>
    private (string? Path, string? Problem) DebugVmlinuxFor(BenchDump dump)
    {
        string key = dump.BuildId ?? dump.Release ?? dump.Path;
        if (_debugVmlinux.TryGetValue(key, out var known))
            return known;
        (string?, string?) found = Find();
        _debugVmlinux[key] = found;
        return found;

        (string?, string?) Find()
        {
            if (dump.BuildId is not null && options.Vmlinux.FirstOrDefault(v => ElfImage.BuildId(v) == dump.BuildId) is string given)
                return (given, null);
            if (dump.BuildId is null && options.Vmlinux.Count == 1)
                return (options.Vmlinux[0], null); // nothing to check it against
            if (dump.Release is null)
                return (null, "the dump has no OSRELEASE, so no debuginfo package can be chosen");
            try
            {
                string path = DebugInfo.Vmlinux(dump.Release, progress);
                string? id = ElfImage.BuildId(path);
                if (dump.BuildId is not null && id != dump.BuildId)
                    return (null, $"linux-image-{dump.Release}-dbg has build ID {id}, the dumped kernel {dump.BuildId}");
                return (path, null);
            }
            catch (IOException e)
            {
                return (null, $"no debuginfo vmlinux: {e.Message}");
            }
        }
    }

    private CaseResult RunCase(BenchCase c)
    {
        string where = c.Dump?.Label ?? "no dump";
        if (c.Line is null)
        {
            progress($"[{where}] {c.Tool}: not run: {c.NotRun}");
            return new CaseResult(c, [], [], [], $"not run: {c.NotRun}");
        }
        int warmups = Math.Max(1, c.Plan.Warmup);
        int colds = PageCache.CanDrop ? c.Plan.ColdRuns : 0;
        progress($"[{where}] {c.Tool}: {warmups} warm-up + {c.Plan.Runs} warm + {colds} cold runs: {c.Line}");

        var warmup = new List<RunResult>();
        var warm = new List<RunResult>();
        var cold = new List<ColdRun>();
        for (int i = 0; i < warmups; i++)
        {
            RunResult run = Once(c, forPeakRss: true);
            warmup.Add(run);
            if (!run.Succeeded)
                return Failed(run);
        }
        for (int i = 0; i < c.Plan.Runs; i++)
        {
            RunResult run = Once(c, forPeakRss: false);
            if (!run.Succeeded)
                return Failed(run);
            warm.Add(run);
        }
        for (int i = 0; i < colds; i++)
        {
            PageCache.DropAll();
            RunResult run = Once(c, forPeakRss: false);
            if (!run.Succeeded)
                return Failed(run);
            cold.Add(new ColdRun(run, c.CachedInputs.ToDictionary(p => p, PageCache.ResidentBytes)));
        }
        var result = new CaseResult(c, warmup, warm, cold, null);
        progress($"[{where}] {c.Tool}: warm median {warm.MedianWall():0.000} s, peak RSS {result.PeakRssKiB / 1024.0:0.0} MiB"
            + (cold.Count > 0 ? $", cold median {Series.Median(cold.Select(r => r.Run.WallSeconds)):0.000} s" : ""));
        return result;

        CaseResult Failed(RunResult run)
        {
            string problem = $"fails: {run.DescribeFailure()}";
            if (c.Diagnose is not null && string.IsNullOrWhiteSpace(run.StandardError) && Diagnose(c.Diagnose.Line) is string said)
                problem += $"; {c.Diagnose.How} \"{said}\"";
            progress($"[{where}] {c.Tool}: {problem}");
            return new CaseResult(c, warmup, warm, cold, problem);
        }
    }

    /// <summary>The last line the command prints that names the tool ("crash: …"), else its last line.</summary>
    private static string? Diagnose(CommandLine command)
    {
        var start = new System.Diagnostics.ProcessStartInfo(command.Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in command.Arguments)
            start.ArgumentList.Add(argument);
        using var process = System.Diagnostics.Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var lines = (output + "\n" + errors.Result).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        string name = Path.GetFileName(command.Executable) + ":";
        return lines.LastOrDefault(l => l.StartsWith(name, StringComparison.Ordinal)) ?? lines.LastOrDefault();
    }

    private RunResult Once(BenchCase c, bool forPeakRss)
    {
        foreach (string file in c.OutputFiles)
            File.Delete(file);
        string stderr = Path.Combine(_scratch, "stderr.txt");
        try
        {
            return forPeakRss
                ? MeasuredProcess.RunForPeakRss(c.Line!, stderr, Path.Combine(_scratch, "time.txt"))
                : MeasuredProcess.Run(c.Line!, stderr);
        }
        finally
        {
            foreach (string file in c.OutputFiles)
                File.Delete(file);
        }
    }
}
