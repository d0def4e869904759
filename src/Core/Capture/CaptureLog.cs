using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace KdumpSharp.Capture;

/// <summary>
/// The capture's own log: every step with its time since the start, kept in memory for the dump's
/// metadata and echoed to a sink (the serial console, unless quiet). Written to capture.log at the end.
/// </summary>
public sealed class CaptureLog(TextWriter? echo)
{
    private readonly StringBuilder _text = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Elapsed => _clock.Elapsed;

    public string Text
    {
        get
        {
            lock (_text)
                return _text.ToString();
        }
    }

    public void Write(string message)
    {
        string line = $"[{Stamp(_clock.Elapsed)}] {message}";
        lock (_text)
            _text.Append(line).Append('\n');
        echo?.WriteLine($"kds-capture: {line}");
    }

    /// <summary>
    /// Seconds with three decimals, right-aligned in eight characters ("   0.006"). Built by hand: the
    /// equivalent format string (",8:0.000") runs the runtime's custom number formatting and padding
    /// for the first time at the first line: ~4 % of the CPU time from Main to the first page read of a
    /// level-31 capture (perf, 8 runs).
    /// </summary>
    internal static string Stamp(TimeSpan elapsed)
    {
        long ms = Math.Max(0, (long)elapsed.TotalMilliseconds);
        string text = (ms / 1000).ToString(CultureInfo.InvariantCulture) + "." + (ms % 1000).ToString("D3", CultureInfo.InvariantCulture);
        return text.Length >= 8 ? text : "        "[text.Length..] + text;
    }
}
