using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using KdumpSharp.Analysis;
using KdumpSharp.Unwind;

namespace KdumpSharp.Analyzer.Commands;

/// <summary>
/// <c>triage DUMP [--json]</c>: the first page of a crash investigation (what crash's sys, ps, bt,
/// log and kmem -i would show), from the dump alone. Parts the dump lacks are listed as problems.
/// </summary>
internal static class TriageCommand
{
    public static Command Create(Stream output)
    {
        var options = new KernelContextOptions();
        var json = new Option<bool>("--json") { Description = "machine-readable output" };
        var command = new Command("triage", "one page: panic and reason, crashing CPU and task with its backtrace, taint, memory, last log lines, dump completeness");
        options.AddTo(command);
        command.Options.Add(json);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            TriageReport report = TriageReport.Build(context);
            if (parse.GetValue(json))
                WriteJson(output, report);
            else
            {
                using StreamWriter w = AnalyzerCli.Text(output);
                WriteText(w, report);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Bytes(ulong? b) => b is ulong v ? v >= 1UL << 30 ? $"{v / (double)(1UL << 30):0.0} GiB" : $"{v / (double)(1UL << 20):0.0} MiB" : "?";

    private static void WriteText(TextWriter w, TriageReport r)
    {
        DumpSummary s = r.Summary;
        void Line(string label, string? value)
        {
            if (value is not null)
                w.WriteLine($"{label,14}: {value}");
        }
        Line("DUMPFILE", s.File);
        Line("FORMAT", InfoCommand.DescribeFormat(s.Properties));
        Line("COMPLETE", s.Properties.IsIncomplete ? $"NO — {s.Properties.IncompleteReason ?? "the dump is incomplete"}"
            : s.Properties.DumpLevel is int level && level != 0 ? $"yes, filtered at dump level {level}" : "yes");
        Line("RELEASE", s.Release);
        Line("VERSION", s.UtsName?.Version);
        Line("CRASH TIME", s.CrashTime?.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));
        Line("UPTIME", s.Uptime?.ToString(@"d\.hh\:mm\:ss", CultureInfo.InvariantCulture));
        Line("PANIC", s.Panic is null ? "(no panic message in the log)" : $"\"{s.Panic.Message.Text}\"");
        Line("REASON", s.Panic is null ? null : s.Panic.Cause is { } c && c.Text != s.Panic.Message.Text ? $"{s.Panic.Reason} ({c.Text})" : s.Panic.Reason.ToString());
        Line("CRASHING CPU", r.Crash is { } cs ? $"{cs.Cpu} (from {cs.Source})" : null);
        Line("PID", r.Crash?.Task?.Pid.ToString(CultureInfo.InvariantCulture));
        Line("COMMAND", r.Crash?.Task is { } t ? $"\"{t.Comm}\"" : null);
        Line("TASK", r.Crash?.Task is { } task ? $"{task.Address:x16}" : null);
        Line("TAINTED", r.Taint is null ? null : $"{r.Taint} (0x{r.TaintMask:x})");
        if (r.Memory is { } m)
            Line("MEMORY", $"total {Bytes(m.Total)}, free {Bytes(m.Free)}, file cache {Bytes(m.FileCache)}, slab {Bytes(m.Slab)}");
        Line("TASKS", r.TaskCount.ToString(CultureInfo.InvariantCulture));
        if (r.Backtrace is { } bt && r.Crash?.Task is { } bad)
        {
            w.WriteLine();
            w.WriteLine($"BACKTRACE of PID {bad.Pid} \"{bad.Comm}\" on CPU {r.Crash.Cpu}:");
            for (int i = 0; i < bt.Frames.Count; i++)
                w.WriteLine($" #{i,-2} [{bt.Frames[i].Sp:x16}] {bt.Frames[i].Symbol?.ToString() ?? "?"} at {bt.Frames[i].Ip:x16}");
        }
        if (r.LogTail.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("LAST LOG LINES:");
            foreach (string line in r.LogTail)
                w.WriteLine(line);
        }
        if (r.Problems.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("PROBLEMS (what the dump could not supply):");
            foreach (string p in r.Problems)
                w.WriteLine($"  {p}");
        }
    }

    private static void WriteJson(Stream output, TriageReport r)
    {
        DumpSummary s = r.Summary;
        using Utf8JsonWriter w = JsonReport.Begin(output);
        w.WriteStartObject();
        w.WriteString("file", s.File);
        w.WriteString("format", s.Properties.Format.ToString());
        w.WriteBoolean("incomplete", s.Properties.IsIncomplete);
        if (s.Properties.DumpLevel is int level)
            w.WriteNumber("dump_level", level);
        w.WriteString("release", s.Release);
        if (s.CrashTime is DateTimeOffset ct)
            w.WriteString("crash_time", ct.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        if (s.Uptime is TimeSpan up)
            w.WriteNumber("uptime_seconds", Math.Round(up.TotalSeconds, 6));
        w.WriteString("panic", s.Panic?.Message.Text);
        w.WriteString("reason", s.Panic?.Reason.ToString());
        w.WriteString("cause", s.Panic?.Cause?.Text);
        if (r.Crash is { } crash)
        {
            w.WriteNumber("cpu", crash.Cpu);
            w.WriteString("cpu_source", crash.Source);
            if (crash.Task is { } t)
            {
                w.WriteNumber("pid", t.Pid);
                w.WriteString("comm", t.Comm);
                w.WriteString("task", $"0x{t.Address:x}");
            }
        }
        if (r.TaintMask is ulong mask)
        {
            w.WriteNumber("taint_mask", mask);
            w.WriteString("taint", r.Taint);
        }
        if (r.Memory is { } m)
        {
            w.WriteStartObject("memory_bytes");
            w.WriteNumberOrNull("total", m.Total);
            w.WriteNumberOrNull("free", m.Free);
            w.WriteNumberOrNull("file_cache", m.FileCache);
            w.WriteNumberOrNull("slab", m.Slab);
            w.WriteEndObject();
        }
        w.WriteNumber("tasks", r.TaskCount);
        w.WriteStartArray("backtrace");
        foreach (StackFrame f in r.Backtrace?.Frames ?? [])
        {
            w.WriteStartObject();
            w.WriteString("function", f.Symbol?.Symbol.Name);
            w.WriteNumber("offset", f.Symbol?.Offset ?? 0);
            w.WriteString("ip", $"0x{f.Ip:x}");
            w.WriteString("sp", $"0x{f.Sp:x}");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("log_tail");
        foreach (string line in r.LogTail)
            w.WriteStringValue(line);
        w.WriteEndArray();
        w.WriteStartArray("problems");
        foreach (string p in r.Problems)
            w.WriteStringValue(p);
        w.WriteEndArray();
        w.WriteEndObject();
        JsonReport.End(w, output);
    }
}
