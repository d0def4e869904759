using KdumpSharp.Bench.Inputs;
using KdumpSharp.Bench.Measurement;

namespace KdumpSharp.Bench.Analyzer;

/// <summary>What a row answers: the kernel log, the dump summary, the first-look triage (panic, tasks, backtrace), or how long the runtime takes to start.</summary>
internal enum Question
{
    StartUp,
    Dmesg,
    Info,
    Triage,
}

/// <summary>
/// How often to run a command: warm-up runs (under GNU time, for the peak RSS; at least one),
/// timed runs with a warm page cache, and cold runs after the page cache is dropped.
/// </summary>
internal sealed record RunPlan(int Warmup, int Runs, int ColdRuns);

/// <summary>One row of the report: a tool answering a question on a dump.</summary>
/// <param name="Dump">The dump, or null for the start-up row.</param>
/// <param name="Tool">How the report names the tool and its command.</param>
/// <param name="IsOurs">kds-analyzer's row, the numerator of the ratios in its group.</param>
/// <param name="Line">What to run, or null when <see cref="NotRun"/> says why it cannot.</param>
internal sealed record BenchCase(BenchDump? Dump, Question Question, string Tool, bool IsOurs, CommandLine? Line, RunPlan Plan)
{
    /// <summary>Why the row could not be run at all (no debuginfo, a tool missing).</summary>
    public string? NotRun { get; init; }

    /// <summary>Files the tool writes and refuses to overwrite (makedumpfile); deleted around each run.</summary>
    public IReadOnlyList<string> OutputFiles { get; init; } = [];

    /// <summary>
    /// Run once, output captured, when the tool fails without a word on stderr (crash -s on a
    /// kernel it cannot read): the report quotes its last line instead.
    /// </summary>
    public Diagnosis? Diagnose { get; init; }

    /// <summary>Files whose page-cache residency is reported after each cold run (the dump).</summary>
    public IReadOnlyList<string> CachedInputs { get; init; } = [];
}

/// <summary>A second command that says why the first failed, and how the report introduces its words.</summary>
internal sealed record Diagnosis(CommandLine Line, string How);

/// <summary>The runs of one row; <see cref="Problem"/> is set when the tool failed or could not run.</summary>
/// <param name="Warmup">The warm-up runs, made under GNU time: they carry the peak RSS.</param>
internal sealed record CaseResult(BenchCase Case, IReadOnlyList<RunResult> Warmup, IReadOnlyList<RunResult> Warm, IReadOnlyList<ColdRun> Cold, string? Problem)
{
    public long? PeakRssKiB => Warmup.PeakRssKiB();
}
