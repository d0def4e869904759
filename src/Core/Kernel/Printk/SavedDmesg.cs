using System.Globalization;
using System.Text;

namespace KdumpSharp.Kernel.Printk;

/// <summary>
/// Reads back log text in vmcore-dmesg's format (<c>[%5llu.%06llu] text</c>, one record per line,
/// continuation lines of a multi-line record unprefixed), such as the copy kds-capture saves before
/// any page. Used when the log's own pages are missing from a dump. Escapes stay escaped.
/// </summary>
public static class SavedDmesg
{
    public static IReadOnlyList<LogRecord> Parse(ReadOnlySpan<byte> text, int maxRecords)
    {
        var records = new List<LogRecord>();
        var current = new StringBuilder();
        ulong timestamp = 0;
        bool open = false;
        foreach (string line in Encoding.Latin1.GetString(text).Split('\n'))
        {
            if (TryParsePrefix(line, out ulong ts, out string body))
            {
                if (open)
                    records.Add(Record(timestamp, current));
                if (records.Count >= maxRecords)
                    break;
                timestamp = ts;
                current.Clear().Append(body);
                open = true;
            }
            else if (open && line.Length > 0)
                current.Append('\n').Append(line);
        }
        if (open && records.Count < maxRecords)
            records.Add(Record(timestamp, current));
        return records;
    }

    private static LogRecord Record(ulong timestamp, StringBuilder text) =>
        new(LogRecordKind.Text, null, timestamp, null, Encoding.Latin1.GetBytes(text.ToString()));

    /// <summary>"[    5.123456] text": seconds and microseconds become nanoseconds.</summary>
    private static bool TryParsePrefix(string line, out ulong timestampNs, out string body)
    {
        timestampNs = 0;
        body = "";
        int close = line.IndexOf("] ", StringComparison.Ordinal);
        if (!line.StartsWith('[') || close < 0)
            return false;
        string[] parts = line[1..close].Trim().Split('.');
        if (parts.Length != 2
            || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong seconds)
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong micros))
            return false;
        timestampNs = seconds * 1_000_000_000 + micros * 1000;
        body = line[(close + 2)..];
        return true;
    }
}
