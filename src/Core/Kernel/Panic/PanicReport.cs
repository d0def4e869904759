using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Kernel.Printk;

namespace KdumpSharp.Kernel.Panic;

/// <summary>One line of the log: a record's text split at '\n', decoded as UTF-8 (invalid bytes become U+FFFD).</summary>
public readonly record struct LogLine(int RecordIndex, ulong? Sequence, ulong TimestampNanoseconds, string Text);

/// <summary>
/// What the log says about the crash: the panic message, its class, the line that caused it, and the
/// crashing CPU/PID/comm from the oops banner. Built by pure functions over log records.
/// </summary>
public sealed partial record PanicReport(
    LogLine Message,
    PanicReason Reason,
    LogLine? Cause,
    OopsBanner? Banner,
    string? HardwareName)
{
    /// <summary>
    /// crash's panic_msg[] (crash-utility/crash task.c, since commit 262b1c7 "Fix printing incorrect
    /// panic string issue", crash 8.0.5): the first pattern, in this order, found anywhere in the log
    /// picks the message; the line is the first one containing it. Debian 12's crash 8.0.2 still
    /// searched an older order (faults, SysRq, "Oops: "/BUG lines, then "Kernel panic"), so on an oops
    /// that ended in panic it shows the "Oops:" line where this shows "Kernel panic - not syncing: …".
    /// </summary>
    private static readonly string[] CrashPanicMessages =
    [
        "SysRq : Crash",
        "SysRq : Trigger a crash",
        "SysRq : Netdump",
        "Kernel panic: ",
        "Kernel panic - ",
        "Kernel BUG at",
        "kernel BUG at",
        "Unable to handle kernel paging request",
        "Unable to handle kernel NULL pointer dereference",
        "BUG: unable to handle kernel ",
        "general protection fault: ",
        "double fault: ",
        "divide error: ",
        "stack segment: ",
        "[Hardware Error]: ",
        "Bad mode in ",
        "Oops: ",
    ];

    /// <summary>crash's panic_keywords[] (task.c), its fallback: the first line containing any of them.</summary>
    private static readonly string[] CrashPanicKeywords =
    [
        "Unable to handle kernel",
        "BUG: unable to handle kernel",
        "Kernel BUG at",
        "kernel BUG at",
        "Bad mode in",
        "Oops",
        "Kernel panic",
    ];

    /// <summary>drgn's remaining pattern (drgn/helpers/linux/panic.py _PANIC_PATTERNS), for x86 faults
    /// whose wording crash's lists miss ("BUG: kernel NULL pointer dereference", "BUG: unable to handle page fault").</summary>
    private static readonly string[] DrgnPanicMessages = ["BUG: kernel NULL pointer dereference", "BUG: unable to handle"];

    /// <summary>
    /// Classification of one line, first match wins. Order matters: panic() messages that name their
    /// cause come first, then the fault lines of an oops, then the generic oops and panic lines.
    /// </summary>
    private static readonly (string Text, PanicReason Reason)[] Classes =
    [
        ("sysrq triggered crash", PanicReason.Sysrq),
        ("sysrq: Trigger a crash", PanicReason.Sysrq),
        ("SysRq : Trigger a crash", PanicReason.Sysrq),
        ("SysRq : Crash", PanicReason.Sysrq),
        ("soft lockup", PanicReason.SoftLockup),
        ("softlockup: hung tasks", PanicReason.SoftLockup),
        ("hard LOCKUP", PanicReason.HardLockup),
        ("Hard LOCKUP", PanicReason.HardLockup),
        ("hung_task: blocked tasks", PanicReason.HungTask),
        ("blocked for more than", PanicReason.HungTask),
        ("RCU Stall", PanicReason.RcuStall),
        ("Out of memory", PanicReason.OutOfMemory),
        ("System is deadlocked on memory", PanicReason.OutOfMemory),
        ("invoked oom-killer", PanicReason.OutOfMemory),
        ("machine check", PanicReason.MachineCheck),
        ("Machine check", PanicReason.MachineCheck),
        ("[Hardware Error]", PanicReason.MachineCheck),
        ("NMI: Not continuing", PanicReason.Nmi),
        ("NMI IOCK error", PanicReason.Nmi),
        ("panic_on_warn set", PanicReason.Warning),
        ("WARNING: CPU: ", PanicReason.Warning),
        ("Attempted to kill init", PanicReason.InitKilled),
        ("Attempted to kill the idle task", PanicReason.InitKilled),
        ("VFS: Unable to mount root fs", PanicReason.RootMountFailed),
        ("NULL pointer dereference", PanicReason.NullPointerDereference),
        ("unable to handle page fault", PanicReason.PageFault),
        ("Unable to handle kernel paging request", PanicReason.PageFault),
        ("unable to handle kernel paging request", PanicReason.PageFault),
        ("kernel BUG at", PanicReason.Bug),
        ("Kernel BUG at", PanicReason.Bug),
        ("general protection fault", PanicReason.GeneralProtectionFault),
        ("double fault", PanicReason.DoubleFault),
        ("divide error", PanicReason.DivideError),
        ("stack segment", PanicReason.StackSegment),
        ("invalid opcode", PanicReason.InvalidOpcode),
        ("Fatal exception", PanicReason.Oops),
        ("Oops", PanicReason.Oops),
        ("Kernel panic", PanicReason.ExplicitPanic),
    ];

    /// <summary>
    /// For a message of these classes, the line that started the event, searched backwards from the
    /// message: the sysrq request, the watchdog report, the OOM header, the WARN line.
    /// </summary>
    private static readonly (PanicReason Reason, string[] Texts)[] Introducers =
    [
        (PanicReason.Sysrq, ["sysrq: Trigger a crash", "SysRq : Trigger a crash", "SysRq : Crash"]),
        (PanicReason.SoftLockup, ["BUG: soft lockup"]),
        (PanicReason.HardLockup, ["Watchdog detected hard LOCKUP"]),
        (PanicReason.HungTask, ["blocked for more than"]),
        (PanicReason.OutOfMemory, ["invoked oom-killer"]),
        (PanicReason.Warning, ["WARNING: CPU: "]),
        (PanicReason.MachineCheck, ["[Hardware Error]"]),
    ];

    /// <summary>
    /// An oops ends in panic("Fatal exception"); the oops itself began a few lines before its die
    /// header (x86 __die_header "%s: %04lx [#%d]", "Oops: " in front since 6.10): the fault report
    /// ("BUG: kernel NULL pointer dereference", "#PF:" and page-table lines) or "kernel BUG at" come
    /// first. Eight lines cover x86_64's longest preamble (BUG line, two #PF lines, page-table line).
    /// </summary>
    private const int OopsPreambleLines = 8;

    /// <summary>
    /// Finds the panic in the log; null when no line looks like one.
    /// <list type="number">
    /// <item><see cref="Message"/>: crash's choice (panic_msg[], then panic_keywords[]), then drgn's extra pattern.</item>
    /// <item><see cref="Reason"/>: the message's class; if the message is generic (an oops, "Fatal exception")
    /// the class of the oops before it, found through its die header "[#n]".</item>
    /// <item><see cref="Cause"/>: that oops's first fault line, or the line that began a sysrq, watchdog,
    /// OOM or WARN event; null when the message says it all.</item>
    /// <item><see cref="Banner"/>: the first "CPU: … PID: … Comm: …" line at or after the cause (else the
    /// message) — the task and CPU that oopsed or called panic(). crash instead takes the first "CPU: "
    /// after the first line with any panic keyword, which can be an earlier, unrelated oops.</item>
    /// </list>
    /// </summary>
    public static PanicReport? Find(IEnumerable<LogRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        List<LogLine> lines = SplitLines(records);
        int message = FirstContaining(lines, CrashPanicMessages);
        if (message < 0)
            message = FirstLineWithAny(lines, CrashPanicKeywords);
        if (message < 0)
            message = FirstContaining(lines, DrgnPanicMessages);
        if (message < 0)
            return null;

        PanicReason reason = Classify(lines[message].Text);
        int cause = -1;
        if (reason is PanicReason.Oops or PanicReason.InvalidOpcode)
        {
            cause = OopsCause(lines, message);
            if (cause >= 0)
                reason = Classify(lines[cause].Text);
        }
        else
        {
            foreach ((PanicReason r, string[] texts) in Introducers)
            {
                if (r == reason)
                    cause = LastBefore(lines, message, texts);
            }
        }

        int anchor = cause >= 0 ? cause : message;
        OopsBanner? banner = null;
        string? hardware = null;
        for (int i = anchor; i < lines.Count; i++)
        {
            if (OopsBanner.TryParse(lines[i].Text, out OopsBanner parsed))
            {
                banner = parsed;
                // dump_stack_print_info() prints "Hardware name: %s" right after the banner (6.12 may put
                // the verbose taint line between them).
                for (int j = i + 1; j < Math.Min(i + 3, lines.Count); j++)
                {
                    if (lines[j].Text.StartsWith(HardwareNamePrefix, StringComparison.Ordinal))
                    {
                        hardware = lines[j].Text[HardwareNamePrefix.Length..];
                        break;
                    }
                }
                break;
            }
        }
        return new PanicReport(lines[message], reason, cause >= 0 && cause != message ? lines[cause] : null, banner, hardware);
    }

    private const string HardwareNamePrefix = "Hardware name: ";

    /// <summary>The class of one line; <see cref="PanicReason.Unknown"/> when none matches.</summary>
    internal static PanicReason Classify(string line)
    {
        foreach ((string text, PanicReason reason) in Classes)
        {
            if (line.Contains(text, StringComparison.Ordinal))
                return reason;
        }
        return PanicReason.Unknown;
    }

    /// <summary>The earliest fault line in the preamble of the oops whose die header is nearest before
    /// (or at) the message, or the header itself.</summary>
    private static int OopsCause(List<LogLine> lines, int message)
    {
        int header = -1;
        for (int i = message; i >= 0; i--)
        {
            if (DieHeader().IsMatch(lines[i].Text))
            {
                header = i;
                break;
            }
        }
        if (header < 0)
            return -1;
        // Walk back over the preamble; the end of an earlier event ("---[ end trace", its banner or
        // die header) bounds it, so an earlier oops's fault line is not taken for this one's.
        int cause = header;
        for (int i = header - 1; i >= Math.Max(0, header - OopsPreambleLines); i--)
        {
            string text = lines[i].Text;
            if (text.StartsWith("---[ end", StringComparison.Ordinal) || DieHeader().IsMatch(text) || OopsBanner.TryParse(text, out _))
                break;
            if (Classify(text) is PanicReason.NullPointerDereference or PanicReason.PageFault or PanicReason.Bug)
                cause = i;
        }
        return cause;
    }

    private static List<LogLine> SplitLines(IEnumerable<LogRecord> records)
    {
        var lines = new List<LogLine>();
        int index = -1;
        foreach (LogRecord record in records)
        {
            index++;
            if (record.Kind != LogRecordKind.Text)
                continue;
            string text = Encoding.UTF8.GetString(record.Text.Span);
            foreach (string line in text.Split('\n'))
                lines.Add(new LogLine(index, record.Sequence, record.TimestampNanoseconds, line));
        }
        return lines;
    }

    private static int FirstContaining(List<LogLine> lines, string[] patterns)
    {
        foreach (string pattern in patterns)
        {
            for (int i = 0; i < lines.Count; i++)
            {
                if (lines[i].Text.Contains(pattern, StringComparison.Ordinal))
                    return i;
            }
        }
        return -1;
    }

    private static int FirstLineWithAny(List<LogLine> lines, string[] patterns)
    {
        for (int i = 0; i < lines.Count; i++)
        {
            foreach (string pattern in patterns)
            {
                if (lines[i].Text.Contains(pattern, StringComparison.Ordinal))
                    return i;
            }
        }
        return -1;
    }

    private static int LastBefore(List<LogLine> lines, int message, string[] patterns)
    {
        for (int i = message; i >= 0; i--)
        {
            foreach (string pattern in patterns)
            {
                if (lines[i].Text.Contains(pattern, StringComparison.Ordinal))
                    return i;
            }
        }
        return -1;
    }

    /// <summary>A die() header: x86 "%s: %04lx [#%d]", arm64 "Internal error: %s: %016lx [#%d]".</summary>
    [GeneratedRegex(@": [0-9a-f]{4,16} \[#\d+\]", RegexOptions.CultureInvariant)]
    private static partial Regex DieHeader();
}
