using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using KdumpSharp.Analysis;
using KdumpSharp.Dumps;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>info DUMP [--json]</c>: the dump at a glance, like crash's <c>sys</c>.</summary>
internal static class InfoCommand
{
    public static Command Create(Stream output)
    {
        var dump = AnalyzerCli.DumpArgument();
        var json = new Option<bool>("--json") { Description = "machine-readable output" };
        var command = new Command("info", "format, kernel release and version, machine, CPUs, memory, crash time, uptime and the panic")
        {
            dump, json,
        };
        command.SetAction(parse =>
        {
            using KernelDump kd = KernelDump.Open(parse.GetValue(dump)!);
            DumpSummary summary = DumpSummary.Build(kd);
            if (parse.GetValue(json))
                WriteJson(output, summary);
            else
            {
                using StreamWriter text = AnalyzerCli.Text(output);
                WriteText(text, summary);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    internal static string DescribeFormat(DumpProperties p)
    {
        static string Name(DumpFormat f) => f switch
        {
            DumpFormat.Elf => "ELF vmcore",
            DumpFormat.KdumpCompressed => "kdump-compressed",
            DumpFormat.Flattened => "makedumpfile flattened",
            _ => "KdumpSharp native",
        };
        string text = Name(p.Format);
        if (p.InnerFormat is DumpFormat inner)
            text += $" ({Name(inner)} inside)";
        if (p.Version is int v)
            text += $", version {v}";
        text += $", compression {p.Compression}";
        if (p.DumpLevel is int level)
            text += $", dump level {level}";
        return text;
    }

    private static void WriteText(TextWriter w, DumpSummary s)
    {
        void Line(string label, string? value)
        {
            if (value is not null)
                w.WriteLine($"{label,14}: {value}");
        }
        Line("DUMPFILE", s.File);
        Line("FORMAT", DescribeFormat(s.Properties));
        Line("COMPLETE", s.Properties.IsIncomplete ? $"NO — {s.Properties.IncompleteReason ?? "the dump is incomplete"}" : "yes");
        Line("RELEASE", s.Release);
        Line("VERSION", s.UtsName?.Version);
        Line("MACHINE", s.UtsName?.Machine);
        Line("NODENAME", s.UtsName?.NodeName);
        Line("CPUS", s.CpuCount.ToString(CultureInfo.InvariantCulture));
        // RAM the dump describes: the crashkernel reservation is not in it, so this is less than crash's "MEMORY".
        Line("MEMORY", $"{FormatBytes(s.MemoryBytes)} (RAM in the dump, without the crash kernel's reservation)");
        Line("CRASH TIME", s.CrashTime?.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));
        Line("UPTIME", s.Uptime is TimeSpan u ? FormatUptime(u) : null);
        Line("PANIC", s.Panic is null ? null : $"\"{s.Panic.Message.Text}\"");
        Line("REASON", s.Panic is null ? null : ReasonText(s));
        Line("CRASHING CPU", s.Panic?.Banner?.Cpu.ToString(CultureInfo.InvariantCulture));
        Line("PID", s.Panic?.Banner?.Pid.ToString(CultureInfo.InvariantCulture));
        Line("COMMAND", s.Panic?.Banner is { } b ? $"\"{b.Comm}\"" : null);
        Line("TAINTED", s.Panic?.Banner is { } t ? t.Taint ?? "no" : null);
        foreach (string problem in s.Problems)
            Line("PROBLEM", problem);
    }

    private static string ReasonText(DumpSummary s) =>
        s.Panic!.Cause is { } cause && cause.Text != s.Panic.Message.Text
            ? $"{s.Panic.Reason} ({cause.Text})"
            : s.Panic.Reason.ToString();

    private static void WriteJson(Stream output, DumpSummary s)
    {
        using Utf8JsonWriter w = JsonReport.Begin(output);
        w.WriteStartObject();
        w.WriteString("file", s.File);
        w.WriteString("format", s.Properties.Format.ToString());
        if (s.Properties.InnerFormat is DumpFormat inner)
            w.WriteString("inner_format", inner.ToString());
        w.WriteString("compression", s.Properties.Compression);
        w.WriteNumberOrNull("format_version", s.Properties.Version);
        w.WriteNumberOrNull("dump_level", s.Properties.DumpLevel);
        w.WriteBoolean("incomplete", s.Properties.IsIncomplete);
        if (s.Properties.IncompleteReason is string why)
            w.WriteString("incomplete_reason", why);
        w.WriteString("release", s.Release);
        w.WriteString("version", s.UtsName?.Version);
        w.WriteString("machine", s.UtsName?.Machine);
        w.WriteString("nodename", s.UtsName?.NodeName);
        w.WriteNumber("cpus", s.CpuCount);
        w.WriteNumber("memory_bytes", s.MemoryBytes);
        if (s.CrashTime is DateTimeOffset ct)
            w.WriteString("crash_time", ct.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        else
            w.WriteNull("crash_time");
        if (s.Uptime is TimeSpan up)
            w.WriteNumber("uptime_seconds", Math.Round(up.TotalSeconds, 6));
        else
            w.WriteNull("uptime_seconds");
        if (s.Panic is { } p)
        {
            w.WriteStartObject("panic");
            w.WriteString("message", p.Message.Text);
            w.WriteString("reason", p.Reason.ToString());
            w.WriteString("cause", p.Cause?.Text);
            w.WriteNumberOrNull("cpu", p.Banner?.Cpu);
            w.WriteNumberOrNull("pid", p.Banner?.Pid);
            w.WriteString("comm", p.Banner?.Comm);
            w.WriteString("taint", p.Banner?.Taint);
            w.WriteEndObject();
        }
        else
            w.WriteNull("panic");
        w.WriteStartArray("problems");
        foreach (string problem in s.Problems)
            w.WriteStringValue(problem);
        w.WriteEndArray();
        w.WriteEndObject();
        JsonReport.End(w, output);
    }


    private static string FormatBytes(ulong bytes) =>
        bytes >= 1UL << 30 ? $"{bytes / (double)(1UL << 30):0.0} GiB" : $"{bytes / (double)(1UL << 20):0.0} MiB";

    private static string FormatUptime(TimeSpan u) =>
        u.TotalDays >= 1 ? $"{(int)u.TotalDays} days, {u:hh\\:mm\\:ss}" : u.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
}
