using System.Globalization;
using System.Text;
using KdumpSharp.Bench.Measurement;
using KdumpSharp.Filtering;

namespace KdumpSharp.Bench.Capture;

/// <summary>The knobs of <c>kds-bench capture</c>.</summary>
internal sealed record CaptureBenchOptions
{
    /// <summary>The ELF vmcore both tools save.</summary>
    public required string Dump { get; init; }

    /// <summary>The kds-capture executable: the published single-file program the crash kernel runs.</summary>
    public required string Capture { get; init; }

    public int Runs { get; init; } = 5;

    /// <summary>GiB of RAM of the sparse vmcore the bounded-memory run saves at level 1 (0: none).</summary>
    public int SparseGiB { get; init; } = 512;

    /// <summary>Where the sparse vmcore is made (kept for later runs: it costs a few MiB of disk).</summary>
    public string SparsePath { get; init; } = "/var/tmp/kds-bench-sparse.elf";

    /// <summary>Levels to compare at (makedumpfile -d).</summary>
    public IReadOnlyList<int> Levels { get; init; } = [31, 1];

    /// <summary>Also time kds-capture --mmap (reading by mapping instead of pread).</summary>
    public bool Mmap { get; init; } = true;

    /// <summary>Also time makedumpfile --num-threads (on this 2-core host it has taken minutes where single-threaded takes seconds).</summary>
    public bool PeerThreads { get; init; } = true;

    /// <summary>What the report says about the dump (how it was made, what its memory holds); one Markdown block, or null.</summary>
    public string? DumpDescription { get; init; }
}

/// <summary>One command of the capture bench and what it is compared with.</summary>
/// <param name="Group">Rows compared with each other: a level and a codec family.</param>
/// <param name="Baseline">This row is what the group's ratios divide by.</param>
internal sealed record CaptureCase(string Group, string Tool, string Label, CommandLine Command, string OutputDirectory, bool Baseline);

/// <summary>What a case measured: the runs, the output's size and the peak RSS of a separate run under GNU time.</summary>
internal sealed record CaptureCaseResult(CaptureCase Case, IReadOnlyList<RunResult> Runs, long OutputBytes, long? PeakRssKiB, string? Failure);

/// <summary>
/// kds-capture against makedumpfile 1.7.2 saving the same ELF vmcore: each tool single-threaded and
/// with every CPU, at each level, with its fast codec (LZ4 and LZO) and its small one (zstd and zlib),
/// kds-capture also with the other choice of copies than the level's default (--dedup at a level that keeps
/// only kernel pages, --no-dedup at one that keeps bulk memory; the report shows what copies save and cost),
/// plus `cat` of the vmcore as the floor any tool that reads every byte pays, and each tool's start and
/// exit alone (`--version`, `-v`) as the fixed cost in each of its rows. Every command runs
/// once unmeasured (warming the page cache and measuring peak RSS through GNU time), then
/// <see cref="CaptureBenchOptions.Runs"/> times, interleaved with the other rows of its group;
/// the output is deleted after each run.
/// </summary>
internal sealed class CaptureBench(CaptureBenchOptions options, Action<string> progress) : IDisposable
{
    public const string Makedumpfile = "/usr/bin/makedumpfile";

    private readonly string _scratch = Directory.CreateTempSubdirectory("kds-bench-capture-").FullName;

    /// <summary>
    /// kds-capture -l 1 on the sparse vmcore (<see cref="Inputs.SparseVmcore"/>), once with pread and once
    /// with --mmap, every CPU, under GNU time: peak RSS must not grow with the dump.
    /// </summary>
    public IReadOnlyList<CaptureCaseResult> RunSparse()
    {
        if (options.SparseGiB == 0)
            return [];
        progress($"sparse: making a {options.SparseGiB} GiB sparse ELF vmcore at {options.SparsePath}");
        Inputs.SparseVmcore.Ensure(options.SparsePath, options.SparseGiB);
        string outDir = Path.Combine(_scratch, "sparse");
        string cores = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
        var results = new List<CaptureCaseResult>();
        foreach (bool mmap in new[] { false, true })
        {
            List<string> args = ["-q", "-l", "1", "-j", cores, "-d", outDir, "--host", "sparse"];
            if (mmap)
                args.Add("--mmap");
            args.Add(options.SparsePath);
            var c = new CaptureCase($"sparse {options.SparseGiB} GiB, level 1", "kds-capture", $"kds-capture -l 1 -j {cores}" + (mmap ? " --mmap" : ""),
                new CommandLine(options.Capture, args), outDir, Baseline: false);
            progress($"{c.Group}: {c.Label}");
            Reset(outDir);
            RunResult run = MeasuredProcess.RunForPeakRss(c.Command, Path.Combine(_scratch, "stderr"), Path.Combine(_scratch, "time"));
            results.Add(new CaptureCaseResult(c, run.Succeeded ? [run] : [], OutputBytes(outDir), run.PeakRssKiB, run.Succeeded ? null : run.DescribeFailure()));
            Reset(outDir);
        }
        return results;
    }

    public (BenchEnvironment Before, string LoadAfter, IReadOnlyList<CaptureCaseResult> Results) Run()
    {
        if (!File.Exists(options.Capture))
            throw new FileNotFoundException($"no kds-capture at {options.Capture}");
        if (!File.Exists(Makedumpfile))
            throw new FileNotFoundException($"no makedumpfile at {Makedumpfile}: run scripts/setup.sh");
        BenchEnvironment before = BenchEnvironment.Capture(options.Capture);
        var results = new List<CaptureCaseResult>();
        foreach (IGrouping<string, CaptureCase> group in Cases().GroupBy(c => c.Group))
            results.AddRange(Measure(group.ToList()));
        return (before, BenchEnvironment.CurrentLoadAverage(), results);
    }

    private IEnumerable<CaptureCase> Cases()
    {
        string dump = options.Dump;
        int cores = Environment.ProcessorCount;
        string outDir = Path.Combine(_scratch, "out");
        yield return new CaptureCase("floor", "cat", "cat vmcore > /dev/null", new CommandLine("/bin/cat", [dump]), outDir, Baseline: true);
        // What a process costs before and after its work: kds-capture starts and stops the .NET runtime
        // (no NativeAOT here), makedumpfile is a C program. Their difference is a fixed cost in every
        // kds-capture row, the whole of it on one thread.
        yield return new CaptureCase("process start and exit", "makedumpfile", "makedumpfile -v", new CommandLine(Makedumpfile, ["-v"]), outDir, Baseline: true);
        yield return new CaptureCase("process start and exit", "kds-capture", "kds-capture --version", new CommandLine(options.Capture, ["--version"]), outDir, Baseline: false);
        foreach (int level in options.Levels)
        {
            string d = level.ToString(CultureInfo.InvariantCulture);
            string group = $"level {level}, fast codec";
            yield return Mdf(group, "-l", d, 0, baseline: true);
            yield return Mdf(group, "-l", d, 0, baseline: false, sync: true);
            if (options.PeerThreads)
                yield return Mdf(group, "-l", d, cores, baseline: false);
            yield return Kds(group, "lz4", d, 1, mmap: false);
            yield return Kds(group, "lz4", d, cores, mmap: false);
            yield return Kds(group, "lz4", d, 1, mmap: false, OtherCopies(level));
            if (options.Mmap)
            {
                yield return Kds(group, "lz4", d, 1, mmap: true);
                yield return Kds(group, "lz4", d, cores, mmap: true);
            }
        }
        bool peerZstd = MakedumpfileHasZstd();
        foreach (int level in options.Levels)
        {
            string d = level.ToString(CultureInfo.InvariantCulture);
            string small = $"level {level}, small codec";
            yield return Mdf(small, "-c", d, 0, baseline: true);
            if (options.PeerThreads)
                yield return Mdf(small, "-c", d, cores, baseline: false);
            if (peerZstd)
                yield return Mdf(small, "-z", d, 0, baseline: false);
            yield return Kds(small, "zstd", d, 1, mmap: false);
            yield return Kds(small, "zstd", d, cores, mmap: false);
            yield return Kds(small, "zstd", d, 1, mmap: false, OtherCopies(level));
        }

        // makedumpfile leaves its file in the page cache; kds-capture's time includes putting the dump on disk
        // (fsync before the rename). The sync row is makedumpfile as kdump-utils runs it in the crash kernel
        // (dracut/99kdumpbase/kdump.sh, dump_fs: the core collector, then `sync -f` on its file, then mv).
        CaptureCase Mdf(string group, string codec, string level, int threads, bool baseline, bool sync = false)
        {
            string output = Path.Combine(outDir, "vmcore.mdf");
            List<string> args = [codec, "-d", level];
            if (threads > 0)
                args.AddRange(["--num-threads", threads.ToString(CultureInfo.InvariantCulture)]);
            args.AddRange([dump, output]);
            string label = $"makedumpfile {codec}, " + (threads > 0 ? $"--num-threads {threads}" : "single-threaded") + (sync ? ", then sync -f" : "");
            CommandLine command = new(Makedumpfile, args);
            if (sync)
            {
                // sh -c SCRIPT makedumpfile ARGS...: $0 is makedumpfile, the output file is the last argument.
                string script = $"\"$0\" \"$@\" && sync -f \"${{{args.Count}}}\"";
                command = new CommandLine("/bin/sh", ["-c", script, Makedumpfile, .. args]);
            }
            return new CaptureCase(group, "makedumpfile", label, command, outDir, baseline);
        }

        // The row with copiesFlag shows what storing repeated pages as copies saves and costs on this dump.
        CaptureCase Kds(string group, string codec, string level, int threads, bool mmap, string? copiesFlag = null)
        {
            List<string> args = ["-q", "-c", codec, "-l", level, "-j", threads.ToString(CultureInfo.InvariantCulture), "-d", outDir, "--host", "bench"];
            if (mmap)
                args.Add("--mmap");
            if (copiesFlag is not null)
                args.Add(copiesFlag);
            args.Add(dump);
            string label = $"kds-capture -c {codec} -j {threads}" + (mmap ? " --mmap" : "") + (copiesFlag is null ? "" : " " + copiesFlag);
            return new CaptureCase(group, "kds-capture", label, new CommandLine(options.Capture, args), outDir, Baseline: false);
        }
    }

    /// <summary>The copies flag that is not <paramref name="level"/>'s default (CaptureOptions.FindsCopies).</summary>
    private static string OtherCopies(int level) => DumpLevels.FromNumber(level).KeepsBulkMemory() ? "--no-dedup" : "--dedup";

    /// <summary>Whether this makedumpfile was built with zstd (-z): `makedumpfile -v` lists "zstd enabled" or "disabled"; Debian's 1.7.2 has it disabled.</summary>
    private static bool MakedumpfileHasZstd()
    {
        var start = new System.Diagnostics.ProcessStartInfo(Makedumpfile, "-v") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd() + errors.Result;
        process.WaitForExit();
        return text.Split('\n').Any(l => l.StartsWith("zstd", StringComparison.Ordinal) && l.Contains("enabled", StringComparison.Ordinal));
    }

    /// <summary>
    /// The rows of one group: each warmed up once (page cache, peak RSS, output size), then measured in
    /// rounds that run every row once, in turn. This shared host's speed drifts by tens of percent over
    /// minutes; rows measured side by side see the same drift, so their ratios do not depend on when each ran.
    /// </summary>
    private List<CaptureCaseResult> Measure(List<CaptureCase> group)
    {
        string stderr = Path.Combine(_scratch, "stderr");
        var warm = new Dictionary<CaptureCase, (RunResult Run, long Bytes)>();
        var runs = group.ToDictionary(c => c, _ => new List<RunResult>());
        var failures = new Dictionary<CaptureCase, string>();
        foreach (CaptureCase c in group)
        {
            progress($"{c.Group}: {c.Label} ({c.Command})");
            Reset(c.OutputDirectory);
            RunResult run = MeasuredProcess.RunForPeakRss(c.Command, stderr, Path.Combine(_scratch, "time"));
            warm[c] = (run, OutputBytes(c.OutputDirectory));
            if (!run.Succeeded)
                failures[c] = run.DescribeFailure();
        }
        for (int i = 0; i < options.Runs; i++)
        {
            progress($"{group[0].Group}: round {i + 1} of {options.Runs}");
            foreach (CaptureCase c in group.Where(c => !failures.ContainsKey(c)))
            {
                Reset(c.OutputDirectory);
                RunResult run = MeasuredProcess.Run(c.Command, stderr);
                if (run.Succeeded)
                    runs[c].Add(run);
                else
                    failures[c] = run.DescribeFailure();
            }
        }
        foreach (CaptureCase c in group)
            Reset(c.OutputDirectory);
        return group.Select(c => new CaptureCaseResult(c, runs[c], warm[c].Run.Succeeded ? warm[c].Bytes : 0,
            warm[c].Run.Succeeded ? warm[c].Run.PeakRssKiB : null, failures.GetValueOrDefault(c))).ToList();
    }

    /// <summary>Every file the run left under its output directory: the dump, and kds-capture's dmesg and log.</summary>
    private static long OutputBytes(string directory) =>
        Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;

    private static void Reset(string directory)
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
        Directory.CreateDirectory(directory);
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    /// <summary>The results as Markdown: one table per group, ratios against the group's baseline.</summary>
    public static string ToMarkdown(CaptureBenchOptions options, BenchEnvironment before, string loadAfter, IReadOnlyList<CaptureCaseResult> results)
    {
        var md = new StringBuilder();
        md.AppendLine($"# kds-capture vs makedumpfile, {before.Started:yyyy-MM-dd HH:mm} UTC").AppendLine();
        long dumpBytes = new FileInfo(options.Dump).Length;
        string fits = dumpBytes < before.MemoryBytes / 2 ? "it fits in the host's page cache, which is warm after each warm-up run" : "it may not stay in the host's page cache";
        md.AppendLine($"- dump: `{options.Dump}` ({dumpBytes / (1024.0 * 1024 * 1024):0.00} GiB ELF vmcore; {fits}; resident when the report was written: {PageCache.ResidentBytes(options.Dump) / (1024.0 * 1024 * 1024):0.00} GiB)");
        md.AppendLine($"- kds-capture: `{options.Capture}` ({before.AnalyzerVersion})");
        md.AppendLine($"- makedumpfile {before.Packages.GetValueOrDefault("makedumpfile", "?")}; {before.Cpu}, {before.Cores} cores, {before.MemoryBytes >> 30} GiB, Linux {before.Kernel}, {before.Runtime}");
        md.AppendLine($"- load average at start {before.LoadAverage}, at end {loadAfter} (shared machine: compare CPU and ratios more than wall)");
        md.AppendLine($"- {options.Runs} measured runs per row after one warm-up, in rounds that run each row of a table once in turn; wall min/median, CPU (user+sys) median; RSS: peak of the warm-up run (GNU time)");
        md.AppendLine("- size: every file the run wrote (kds-capture: vmcore.kds, vmcore-dmesg.txt, capture.log). Ratios: row ÷ the group's first row (above 1 = slower or bigger)");
        md.AppendLine("- paired ratio: the median over rounds of the row's wall time ÷ the first row's in the same round, so drift between rounds cancels").AppendLine();
        if (options.DumpDescription is not null)
            md.AppendLine(options.DumpDescription).AppendLine();
        foreach (IGrouping<string, CaptureCaseResult> group in results.GroupBy(r => r.Case.Group))
        {
            CaptureCaseResult? baseline = group.FirstOrDefault(r => r.Case.Baseline && r.Failure is null);
            md.AppendLine($"## {group.Key}").AppendLine();
            md.AppendLine("| command | wall min s | wall median s | CPU median s | size MB | peak RSS MiB | wall ratio (min) | wall ratio (paired) | CPU ratio | size ratio |");
            md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (CaptureCaseResult r in group)
            {
                if (r.Failure is not null)
                {
                    // makedumpfile redraws its progress with \r: keep the last redraw, and not too much of it.
                    string failure = r.Failure.Split('\r')[^1].Trim();
                    failure = failure.Length > 120 ? failure[^120..] : failure;
                    md.AppendLine($"| `{r.Case.Label}` | failed: {failure.Replace("|", "\\|", StringComparison.Ordinal)} | | | | | | | | |");
                    continue;
                }
                double wallMin = r.Runs.Min(x => x.WallSeconds), wallMedian = r.Runs.MedianWall(), cpu = r.Runs.MedianCpu();
                string Ratio(double value, double? reference) => reference is double b && b > 0 ? (value / b).ToString("0.00", CultureInfo.InvariantCulture) : "";
                double? baseWall = baseline?.Runs.Min(x => x.WallSeconds), baseCpu = baseline?.Runs.MedianCpu(), baseSize = baseline?.OutputBytes;
                md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| `{r.Case.Label}` | {wallMin:0.000} | {wallMedian:0.000} | {cpu:0.000} | {r.OutputBytes / 1e6:0.0} | {(r.PeakRssKiB is long k ? (k / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) : "?")} | {Ratio(wallMin, baseWall)} | {PairedRatio(r.Runs, baseline?.Runs)} | {Ratio(cpu, baseCpu)} | {(group.Key == "floor" ? "" : Ratio(r.OutputBytes, baseSize))} |"));
            }
            md.AppendLine();
        }
        return md.ToString();
    }

    /// <summary>The median of <paramref name="runs"/>[i] ÷ <paramref name="baseline"/>[i], round by round; empty unless every round of both succeeded.</summary>
    private static string PairedRatio(IReadOnlyList<RunResult> runs, IReadOnlyList<RunResult>? baseline) =>
        baseline is null || baseline.Count != runs.Count || runs.Count == 0 ? ""
            : Series.Median(runs.Select((r, i) => r.WallSeconds / baseline[i].WallSeconds)).ToString("0.00", CultureInfo.InvariantCulture);
}
