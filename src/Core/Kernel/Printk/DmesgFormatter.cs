using System.Buffers;
using System.Globalization;
using System.Text;

namespace KdumpSharp.Kernel.Printk;

/// <summary>
/// Wall-clock time for log records: the dump's CRASHTIME (Unix seconds, appended to VMCOREINFO by
/// crash_save_vmcoreinfo() when the kernel panicked) is taken as the moment of the newest record, and
/// a record's time is CRASHTIME − (newest ts_nsec − its ts_nsec), rounded down to the second.
/// printk timestamps are local_clock() (stops during suspend), so records from before a suspend come
/// out too late; crash's "log -T" has the same weakness (it takes the boot time as crash time minus
/// jiffies uptime and adds each record's whole seconds).
/// </summary>
public readonly record struct DmesgWallClock(long CrashTimeUnixSeconds, ulong CrashTimestampNanoseconds)
{
    /// <summary>Anchors on the newest record of <paramref name="log"/>; null when the dump has no CRASHTIME or the log is empty.</summary>
    public static DmesgWallClock? FromLog(KernelLog log, Vmcoreinfo vmcoreinfo)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(vmcoreinfo);
        if (vmcoreinfo.CrashTime is not long crashTime || log.Records.Count == 0)
            return null;
        ulong newest = 0;
        foreach (LogRecord record in log.Records)
            newest = Math.Max(newest, record.TimestampNanoseconds);
        return new DmesgWallClock(crashTime, newest);
    }

    /// <summary>The Unix time, in whole seconds, of a record stamped <paramref name="timestampNanoseconds"/>.</summary>
    public long UnixSecondsAt(ulong timestampNanoseconds)
    {
        // Int128: CRASHTIME * 1e9 and a 64-bit ts_nsec difference do not both fit in a long.
        Int128 nanoseconds = (Int128)CrashTimeUnixSeconds * 1_000_000_000 - ((Int128)CrashTimestampNanoseconds - timestampNanoseconds);
        Int128 seconds = nanoseconds / 1_000_000_000;
        if (nanoseconds < 0 && nanoseconds % 1_000_000_000 != 0)
            seconds -= 1;
        return (long)seconds;
    }
}

/// <summary>How <see cref="DmesgFormatter"/> lays out a record. The default is vmcore-dmesg's output.</summary>
public sealed record DmesgOptions
{
    /// <summary>kexec-tools 2.0.25 vmcore-dmesg, byte for byte.</summary>
    public static DmesgOptions VmcoreDmesg { get; } = new();

    /// <summary>
    /// Adds the caller column after the timestamp, as makedumpfile 1.7.5+ --dump-dmesg does
    /// (printk.c: <c>"[%*s] "</c> with width 8, e.g. <c>[    T123] </c>, <c>[      C1] </c>). Records
    /// without a caller (3.5–5.0 kernels, or 5.1–5.9 without CONFIG_PRINTK_CALLER) get no column.
    /// </summary>
    public bool ShowCaller { get; init; }

    /// <summary>When set, replaces <c>[seconds.micros]</c> with the wall-clock time in UTC, written as
    /// crash's "log -T" writes it (strftime "%a %b %e %T %Z %Y"): <c>[Tue Mar  5 14:03:27 UTC 2024] </c>.</summary>
    public DmesgWallClock? WallClock { get; init; }
}

/// <summary>
/// Prints log records as text. With <see cref="DmesgOptions.VmcoreDmesg"/> the bytes are those of
/// Debian 12's vmcore-dmesg (kexec-tools 2.0.25, util_lib/elf_info.c dump_record() and
/// dump_dmesg_structured()):
/// <list type="bullet">
/// <item>each record starts with <c>"[%5llu.%06llu] "</c>: seconds = ts_nsec / 10^9 right-aligned in five
/// columns (wider when needed), then the microseconds (ts_nsec % 10^9) / 1000 in six digits;</item>
/// <item>each text byte for which C-locale isprint() or isspace() holds (0x20–0x7e, and \t \n \v \f \r)
/// is copied as is, any other byte becomes <c>\xNN</c> with two lowercase hex digits;</item>
/// <item>a '\n' inside the text is copied as is: the following lines of a multi-line record get no
/// timestamp and no indentation;</item>
/// <item>one '\n' ends every record; a data-less record (and a 3.5–5.9 wrap marker) prints the timestamp,
/// the space and the newline only;</item>
/// <item>nothing is printed for dictionaries (3.5–5.9) or dev_printk_info (5.10+), and no log level or facility.</item>
/// </list>
/// The output is therefore pure ASCII. Records are those <see cref="KernelLog"/> returns, which match
/// vmcore-dmesg's except on 6.19+ kernels where a text block ends exactly at the end of the ring:
/// vmcore-dmesg 2.0.25 prints other records' bytes for it, <see cref="KernelLog"/> the record's text.
/// </summary>
public static class DmesgFormatter
{
    private static readonly long MinUnixSeconds = DateTimeOffset.MinValue.ToUnixTimeSeconds();
    private static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    /// <summary>Writes the records to <paramref name="output"/>.</summary>
    public static void Write(Stream output, IEnumerable<LogRecord> records, DmesgOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(records);
        options ??= DmesgOptions.VmcoreDmesg;
        var buffer = new ArrayBufferWriter<byte>(4096);
        foreach (LogRecord record in records)
        {
            buffer.ResetWrittenCount();
            AppendRecord(buffer, record, options);
            output.Write(buffer.WrittenSpan);
        }
    }

    /// <summary>The records as one string (the output is ASCII, so nothing is lost).</summary>
    public static string Format(IEnumerable<LogRecord> records, DmesgOptions? options = null)
    {
        using var stream = new MemoryStream();
        Write(stream, records, options);
        return Encoding.ASCII.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void AppendRecord(ArrayBufferWriter<byte> output, LogRecord record, DmesgOptions options)
    {
        if (options.WallClock is DmesgWallClock clock)
        {
            long unixSeconds = clock.UnixSecondsAt(record.TimestampNanoseconds);
            if (unixSeconds < MinUnixSeconds || unixSeconds > MaxUnixSeconds)
            {
                // A corrupt CRASHTIME: print the number, as crash's ctime_tz() does when localtime() fails.
                AppendAscii(output, string.Create(CultureInfo.InvariantCulture, $"[{unixSeconds}] "));
            }
            else
            {
                DateTime utc = DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime;
                // %e is the day of the month padded with a space to two columns.
                AppendAscii(output, string.Create(CultureInfo.InvariantCulture,
                    $"[{utc:ddd MMM} {utc.Day,2} {utc:HH:mm:ss} UTC {utc:yyyy}] "));
            }
        }
        else
        {
            ulong seconds = record.TimestampNanoseconds / 1_000_000_000;
            ulong micros = record.TimestampNanoseconds % 1_000_000_000 / 1000;
            AppendAscii(output, string.Create(CultureInfo.InvariantCulture, $"[{seconds,5}.{micros:D6}] "));
        }
        if (options.ShowCaller && record.Caller is PrintkCaller caller)
            AppendAscii(output, string.Create(CultureInfo.InvariantCulture, $"[{caller,8}] "));

        ReadOnlySpan<byte> text = record.Text.Span;
        // Worst case four output bytes per input byte, plus the newline.
        Span<byte> destination = output.GetSpan(text.Length * 4 + 1);
        int at = 0;
        foreach (byte b in text)
        {
            if (b is (>= 0x20 and <= 0x7e) or (>= 0x09 and <= 0x0d))
            {
                destination[at++] = b;
            }
            else
            {
                destination[at++] = (byte)'\\';
                destination[at++] = (byte)'x';
                destination[at++] = HexDigit(b >> 4);
                destination[at++] = HexDigit(b & 0xf);
            }
        }
        destination[at++] = (byte)'\n';
        output.Advance(at);
    }

    private static byte HexDigit(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static void AppendAscii(ArrayBufferWriter<byte> output, string s)
    {
        int written = Encoding.ASCII.GetBytes(s, output.GetSpan(s.Length));
        output.Advance(written);
    }
}
