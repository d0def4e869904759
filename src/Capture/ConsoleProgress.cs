using System.Diagnostics;
using System.Globalization;

namespace KdumpSharp.Capture;

/// <summary>
/// Progress for a person watching the crash kernel's serial console: one line per 5% step with the
/// rate over RAM examined and the time left. Plain lines, no carriage returns: serial consoles and
/// log files keep them readable.
/// </summary>
internal sealed class ConsoleProgress(TextWriter output, ulong totalBytes) : IProgress<double>
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _lastStep = -1;

    public void Report(double value)
    {
        int step = (int)(value * 20);
        if (step <= _lastStep)
            return;
        _lastStep = step;
        double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        double done = value * totalBytes;
        double rate = done / seconds;
        string eta = value > 0 ? TimeSpan.FromSeconds(seconds * (1 - value) / value).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "--:--:--";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kds-capture: {value * 100,3:0}% of {totalBytes >> 20} MiB, {rate / (1 << 20):0} MB/s, ETA {eta}"));
    }
}
