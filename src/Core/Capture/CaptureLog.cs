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
        string line = string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,8:0.000}] {message}");
        lock (_text)
            _text.Append(line).Append('\n');
        echo?.WriteLine($"kds-capture: {line}");
    }
}
