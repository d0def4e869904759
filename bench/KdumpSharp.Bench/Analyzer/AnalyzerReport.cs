using System.Globalization;
using System.Text;
using KdumpSharp.Bench.Inputs;
using KdumpSharp.Bench.Measurement;

namespace KdumpSharp.Bench.Analyzer;

/// <summary>The measurements of one <c>kds-bench analyzer</c> run, rendered as Markdown.</summary>
internal sealed record AnalyzerReport(
    BenchEnvironment Environment,
    string LoadAverageAtEnd,
    AnalyzerBenchOptions Options,
    bool ColdMeasured,
    IReadOnlyList<BenchDump> Dumps,
    IReadOnlyList<CaseResult> Results)
{
    private const double MiB = 1 << 20;

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        BenchEnvironment env = Environment;
        md.AppendLine(CultureInfo.InvariantCulture, $"# kds-analyzer against its peers, {env.Started:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine(
            $"- Machine: {env.Cpu}, {env.Cores} cores, {env.MemoryBytes / (double)(1L << 30):0.0} GiB RAM, Linux {env.Kernel}. "
            + $"Shared with other users: load average {env.LoadAverage} at the start, {LoadAverageAtEnd} at the end (1, 5, 15 min).");
        md.AppendLine(
            $"- Tools: kds-analyzer {env.AnalyzerVersion} (Release apphost, {env.Runtime}); "
            + string.Join(", ", env.Packages.Select(p => $"{p.Key} {p.Value}"))
            + " (Debian 12 packages; vmcore-dmesg is kexec-tools').");
        md.AppendLine(
            $"- Method: every tool runs as its own process (posix_spawn, reaped with wait4), stdout to /dev/null. "
            + $"**Warm**: median (min–max) of {Options.Runs} runs after {Math.Max(1, Options.Warmup)} warm-up runs; crash {Options.CrashRuns} after 1. "
            + (ColdMeasured
                ? $"**Cold**: median of {Options.ColdRuns} runs (crash {Options.CrashColdRuns}), each right after `sync; echo 3 > /proc/sys/vm/drop_caches`, "
                  + "so the tool's own binary, libraries and runtime come from disk too. "
                : "**Cold**: not measured (dropping the page cache needs root). ")
            + "**CPU**: user + system, median of the warm runs. **Peak RSS**: the highest maxrss GNU time (`/usr/bin/time -f %M`) reports for the warm-up runs "
            + "(resident pages of a memory-mapped dump count; the bench's own posix_spawn cannot measure it, see MeasuredProcess.cs). **Disk read**: ru_inblock × 512 of the cold run (everything the process read from the disk). "
            + "**Dump read**: bytes of the dump in the page cache after the cold run (mincore), i.e. what the tool read of the dump, readahead included.");
        md.AppendLine("- Ratios are kds-analyzer ÷ the tool, on the same dump and question: above 1 means kds-analyzer is slower or bigger.");
        md.AppendLine();

        foreach (var group in Results.GroupBy(r => r.Case.Dump))
        {
            BenchDump? dump = group.Key;
            if (dump is null)
            {
                md.AppendLine("## Start-up, no dump");
                md.AppendLine();
                md.AppendLine("The .NET runtime's own cost: the floor under every kds-analyzer row below.");
            }
            else
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"## {dump.Label}: {dump.Bytes / MiB:0.0} MiB");
                md.AppendLine();
                int? readAhead = PageCache.ReadAheadKiB(dump.Path);
                md.AppendLine(CultureInfo.InvariantCulture, $"`{dump.Path}` ({dump.Origin}; read_ahead_kb of its disk: {readAhead?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}).");
            }
            md.AppendLine();
            md.AppendLine("| question | tool | wall, warm (s) | CPU (s) | peak RSS (MiB) | wall, cold (s) | disk read, cold (MiB) | dump read, cold (MiB) | ÷ wall | ÷ CPU | ÷ RSS | ÷ cold wall |");
            md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (CaseResult result in group)
            {
                CaseResult? ours = group.FirstOrDefault(r => r.Case.IsOurs && r.Case.Question == result.Case.Question);
                md.AppendLine(Row(result, result.Case.IsOurs ? null : ours));
            }
            md.AppendLine();
        }
        return md.ToString();
    }

    private static string Row(CaseResult r, CaseResult? ours)
    {
        string question = r.Case.Question switch
        {
            Question.StartUp => "start-up",
            Question.Dmesg => "dmesg",
            Question.Triage => "triage",
            _ => "info",
        };
        string tool = r.Case.IsOurs ? $"**{r.Case.Tool}**" : r.Case.Tool;
        if (r.Problem is not null)
            return $"| {question} | {tool} | {Escape(r.Problem)} | | | | | | | | | |";

        IReadOnlyList<RunResult> warm = r.Warm;
        IReadOnlyList<RunResult> cold = [.. r.Cold.Select(c => c.Run)];
        string dumpRead = "";
        if (r.Cold.Count > 0 && r.Case.Dump is BenchDump dump && r.Cold[0].CachedBytes.TryGetValue(dump.Path, out _))
        {
            double read = Series.Median(r.Cold.Select(c => (double)c.CachedBytes[dump.Path]));
            dumpRead = $"{read / MiB:0.0} ({Percent(read / dump.Bytes)})";
        }
        string[] cells =
        [
            question,
            tool,
            $"{Seconds(warm.MedianWall())} ({Seconds(warm.Min(x => x.WallSeconds))}–{Seconds(warm.Max(x => x.WallSeconds))})",
            Seconds(warm.MedianCpu()),
            r.PeakRssKiB is long rss ? $"{rss / 1024.0:0.0}" : "",
            cold.Count > 0 ? Seconds(cold.MedianWall()) : "",
            cold.Count > 0 ? $"{Series.Median(cold.Select(c => (double)c.BytesReadFromDisk)) / MiB:0.0}" : "",
            dumpRead,
            Ratio(ours, r, x => x.Warm.MedianWall()),
            Ratio(ours, r, x => x.Warm.MedianCpu()),
            Ratio(ours, r, x => x.PeakRssKiB ?? double.NaN),
            Ratio(ours, r, x => x.Cold.Count == 0 ? double.NaN : Series.Median(x.Cold.Select(c => c.Run.WallSeconds))),
        ];
        return "| " + string.Join(" | ", cells) + " |";
    }

    private static string Ratio(CaseResult? ours, CaseResult peer, Func<CaseResult, double> value)
    {
        if (ours is null || ours.Problem is not null || ours.Warm.Count == 0)
            return "";
        double a = value(ours), b = value(peer);
        if (double.IsNaN(a) || double.IsNaN(b) || b <= 0)
            return "";
        double ratio = a / b;
        return ratio >= 10 ? $"{ratio:0}×" : ratio >= 1 ? $"{ratio:0.0}×" : $"{ratio:G2}×";
    }

    private static string Seconds(double s) =>
        s >= 10 ? s.ToString("0.0", CultureInfo.InvariantCulture)
        : s >= 0.1 ? s.ToString("0.00", CultureInfo.InvariantCulture)
        : s.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Percent(double fraction) =>
        fraction >= 0.1 ? $"{fraction:0%}" : fraction >= 0.001 ? $"{fraction:0.0%}" : $"{fraction:0.00%}";

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");
}
