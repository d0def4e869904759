using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;
using KdumpSharp.Tasks;
using KdumpSharp.Unwind;

namespace KdumpSharp.Analysis;

/// <summary>Memory counters at the crash, in bytes (what /proc/meminfo's first lines would have said).</summary>
public sealed record MemoryCounters(ulong? Total, ulong? Free, ulong? FileCache, ulong? Slab);

/// <summary>
/// The one page an engineer wants first, built from the dump alone: the summary (panic, reason,
/// release, times, completeness), the crashing CPU and task with its backtrace, taint flags, memory
/// counters and the end of the log. Each part that cannot be read becomes a line in
/// <see cref="Problems"/> naming what was missing, so a dump lacking pages still gives a report.
/// </summary>
public sealed record TriageReport
{
    /// <summary>Log lines shown at the end of the report.</summary>
    public const int LogTailLines = 25;

    public required DumpSummary Summary { get; init; }
    public CrashSite? Crash { get; init; }
    public Backtrace? Backtrace { get; init; }
    public ulong? TaintMask { get; init; }
    public string? Taint { get; init; }
    public MemoryCounters? Memory { get; init; }
    public IReadOnlyList<string> LogTail { get; init; } = [];
    public int TaskCount { get; init; }
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>
    /// kernel/panic.c taint_flags[]: one letter per bit (bit 0 is P for a proprietary module, else G).
    /// Covers 6.1–6.12 (N = TAINT_TEST is bit 18, added in 5.19).
    /// </summary>
    private const string TaintLetters = "PFSRMBUDAWCIOELKXTN";

    public static TriageReport Build(KernelContext kernel)
    {
        DumpSummary summary = DumpSummary.Build(kernel.Dump);
        var problems = new List<string>(summary.Problems);
        // Name the tables first, so a missing page there is reported as what it is, not as every consumer's failure.
        if (Try(() => kernel.Symbols, "kallsyms", problems) is not null)
            Try(() => kernel.Types, "BTF", problems);
        TaskList? tasks = Try(() => TaskList.Read(kernel), "tasks", problems);
        if (tasks is not null)
            problems.AddRange(tasks.Problems.Select(p => $"tasks: {p}"));
        CrashSite? crash = tasks is null ? null : Try(() => CrashSite.Find(kernel, tasks), "crashing CPU", problems);
        Backtrace? bt = crash?.Task is KernelTask task ? Try(() => new KernelStacks(kernel).Unwind(task), "backtrace", problems) : null;
        if (bt?.StopReason is string why)
            problems.Add($"backtrace: stopped early: {why}");
        ulong? taint = TryValue(() => kernel.Dump.Virtual.ReadUInt64(kernel.Symbols.RequireAddress("tainted_mask")), "taint", problems);
        return new TriageReport
        {
            Summary = summary,
            Crash = crash,
            Backtrace = bt,
            TaintMask = taint,
            Taint = taint is ulong mask ? DescribeTaint(mask) : null,
            Memory = ReadMemory(kernel, problems),
            LogTail = ReadLogTail(kernel, problems),
            TaskCount = tasks?.Tasks.Count ?? 0,
            Problems = problems.Distinct().ToList(),
        };
    }

    /// <summary>The kernel's print_tainted() letters: "G" alone when clean, else one letter per set flag.</summary>
    public static string DescribeTaint(ulong mask)
    {
        if (mask == 0)
            return "Not tainted";
        var letters = new List<char> { (mask & 1) != 0 ? 'P' : 'G' };
        for (int bit = 1; bit < TaintLetters.Length; bit++)
            if ((mask & (1UL << bit)) != 0)
                letters.Add(TaintLetters[bit]);
        if (mask >> TaintLetters.Length != 0)
            letters.Add('?');
        return "Tainted: " + new string(letters.ToArray());
    }

    /// <summary>
    /// _totalram_pages, and the global vmstat arrays vm_zone_stat[NR_FREE_PAGES] and
    /// vm_node_stat[NR_FILE_PAGES, NR_SLAB_RECLAIMABLE_B, NR_SLAB_UNRECLAIMABLE_B] (mm/vmstat.c;
    /// counts of pages despite the _B suffix), indices from the BTF enums zone_stat_item and node_stat_item.
    /// </summary>
    private static MemoryCounters? ReadMemory(KernelContext kernel, List<string> problems)
    {
        ulong page = (ulong)(kernel.Dump.Vmcoreinfo.PageSize ?? 4096);
        ulong? Counter(string array, string item) => TryValue(() =>
        {
            long index = kernel.Types.EnumeratorValue(item) ?? throw new KernelDataException($"no enumerator {item} in the kernel's BTF");
            if (index < 0 || index > 1024)
                throw new KernelDataException($"{item} = {index} is not a plausible vmstat index");
            long pages = (long)kernel.Dump.Virtual.ReadUInt64(kernel.Symbols.RequireAddress(array) + (ulong)index * 8);
            return (ulong)Math.Max(0, pages) * page;
        }, $"memory ({item})", problems);
        ulong? total = TryValue(() => kernel.Dump.Virtual.ReadUInt64(kernel.Symbols.RequireAddress("_totalram_pages")) * page, "memory (total)", problems);
        ulong? reclaimable = Counter("vm_node_stat", "NR_SLAB_RECLAIMABLE_B");
        ulong? unreclaimable = Counter("vm_node_stat", "NR_SLAB_UNRECLAIMABLE_B");
        return new MemoryCounters(total, Counter("vm_zone_stat", "NR_FREE_PAGES"), Counter("vm_node_stat", "NR_FILE_PAGES"),
            reclaimable is ulong r && unreclaimable is ulong u ? r + u : null);
    }

    private static IReadOnlyList<string> ReadLogTail(KernelContext kernel, List<string> problems)
    {
        KernelLog? log = Try(() => kernel.Dump.Log, "kernel log", problems);
        if (log is null)
            return [];
        string text = DmesgFormatter.Format(log.Records.TakeLast(LogTailLines * 2));
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(LogTailLines).ToList();
    }

    private static T? Try<T>(Func<T?> read, string what, List<string> problems) where T : class
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            problems.Add($"{what}: {e.Message}");
            return null;
        }
    }

    private static ulong? TryValue(Func<ulong> read, string what, List<string> problems)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            problems.Add($"{what}: {e.Message}");
            return null;
        }
    }
}
