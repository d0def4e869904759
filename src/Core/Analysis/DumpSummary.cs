using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Panic;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Analysis;

/// <summary>
/// What <c>kds-analyzer info</c> reports, like crash's <c>sys</c>: the container, the kernel, the
/// machine and the panic. Each part is found independently; a part the dump cannot supply is left
/// null and the reason recorded in <see cref="Problems"/>, so a damaged dump still says what it can.
/// </summary>
public sealed record DumpSummary
{
    public required string File { get; init; }
    public required DumpProperties Properties { get; init; }
    public UtsName? UtsName { get; init; }
    public string? Release { get; init; }

    /// <summary>NT_PRSTATUS notes: one per CPU that was online and answered the crash NMI (makedumpfile counts the same).</summary>
    public int CpuCount { get; init; }
    public ulong MemoryBytes { get; init; }

    /// <summary>VMCOREINFO CRASHTIME, written at panic time by crash_save_vmcoreinfo().</summary>
    public DateTimeOffset? CrashTime { get; init; }

    /// <summary>The boot clock (local_clock, as printk stamps it) at the newest log record: time from boot to the crash.</summary>
    public TimeSpan? Uptime { get; init; }
    public PanicReport? Panic { get; init; }
    public int LogRecordCount { get; init; }
    public IReadOnlyList<string> Problems { get; init; } = [];

    public static DumpSummary Build(KernelDump dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        var problems = new List<string>();
        IDumpReader reader = dump.Reader;
        Vmcoreinfo? info = reader.Vmcoreinfo;
        if (info is null)
            problems.Add("no VMCOREINFO note: the kernel cannot be read");

        UtsName? uts = UtsName.Find(reader);
        if (uts is null)
            problems.Add("utsname: neither the container nor init_uts_ns in memory (SYMBOL(init_uts_ns), checked against OSRELEASE) has it");
        KernelLog? log = info is null ? null : Try(() => dump.Log, "kernel log", problems);
        if (log is not null)
            problems.AddRange(log.Problems.Select(p => $"kernel log: {p}"));
        IReadOnlyList<LogRecord>? records = log?.Records;
        if (records is null && reader is ICaptureMetadata { Dmesg: ReadOnlyMemory<byte> saved })
        {
            // The log's pages are missing, but kds-capture saved the formatted log before any page.
            records = SavedDmesg.Parse(saved.Span, dump.Limits.MaxLogRecords);
            problems.Add("kernel log: read from the copy kds-capture saved, not from memory");
        }
        LogRecord? last = records?.LastOrDefault(r => r.Kind == LogRecordKind.Text);

        return new DumpSummary
        {
            File = reader.Name,
            Properties = reader.Properties,
            UtsName = uts,
            Release = uts?.Release is { Length: > 0 } r ? r : info?.OsRelease,
            CpuCount = reader.Notes.Count(n => n.IsPrStatus),
            MemoryBytes = reader.Memory.TotalBytes,
            CrashTime = info?.CrashTime is long t ? DateTimeOffset.FromUnixTimeSeconds(t) : null,
            Uptime = last is LogRecord l ? TimeSpan.FromTicks((long)(l.TimestampNanoseconds / 100)) : null,
            Panic = records is null ? null : PanicReport.Find(records),
            LogRecordCount = records?.Count ?? 0,
            Problems = problems,
        };
    }

    private static T? Try<T>(Func<T> read, string what, List<string> problems) where T : class
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
