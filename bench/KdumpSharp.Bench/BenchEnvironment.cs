using System.Diagnostics;
using System.Runtime.InteropServices;

namespace KdumpSharp.Bench;

/// <summary>The machine and tool versions a result was measured with.</summary>
internal sealed record BenchEnvironment(
    DateTimeOffset Started,
    string Cpu,
    int Cores,
    long MemoryBytes,
    string Kernel,
    string LoadAverage,
    string Runtime,
    string AnalyzerVersion,
    IReadOnlyDictionary<string, string> Packages)
{
    /// <summary>Debian packages of the peers: vmcore-dmesg comes with kexec-tools.</summary>
    public static IReadOnlyList<string> PeerPackages { get; } = ["kexec-tools", "makedumpfile", "crash"];

    public static BenchEnvironment Capture(string analyzer) => new(
        DateTimeOffset.UtcNow,
        File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU",
        Environment.ProcessorCount,
        MemTotal(),
        File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
        CurrentLoadAverage(),
        RuntimeInformation.FrameworkDescription,
        Output(analyzer, "--version") ?? "unknown",
        PeerPackages.ToDictionary(p => p, p => Output("dpkg-query", "-W", "-f=${Version}", p) ?? "not installed"));

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string CurrentLoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static long MemTotal()
    {
        string? line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    private static string? Output(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        try
        {
            using Process process = Process.Start(start)!;
            Task<string> errors = process.StandardError.ReadToEndAsync();
            string text = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            errors.Wait();
            return process.ExitCode == 0 && text.Length > 0 ? text : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
