using System.Diagnostics;

namespace KdumpSharp.Tests;

/// <summary>The peer tools scripts/setup.sh installs (makedumpfile, python3 with drgn), run to check interoperability.</summary>
internal static class PeerTools
{
    /// <summary>The tool's path, or ignores the test when it is not installed.</summary>
    public static string Require(string tool)
    {
        string[] dirs = [.. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'), "/usr/sbin", "/sbin"];
        string? path = dirs.Where(d => d.Length > 0).Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
        if (path is null)
            Assert.Fail($"{tool} is not installed (scripts/setup.sh installs it)");
        return path!;
    }

    /// <summary>A Python that imports drgn (Debian's python3-drgn is for /usr/bin/python3, which a pyenv
    /// shim may hide), or ignores the test.</summary>
    public static string RequireDrgn()
    {
        const string Python = "/usr/bin/python3";
        if (!File.Exists(Python) || Run($"{Python} -c 'import drgn'").ExitCode != 0)
            Assert.Fail("python3-drgn is not installed (scripts/setup.sh installs it)");
        return Python;
    }

    /// <summary>Runs a shell command line and returns its exit code and combined output.</summary>
    public static (int ExitCode, string Output) Run(string commandLine, int timeoutMs = 120_000)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", commandLine + " 2>&1"]) { RedirectStandardOutput = true };
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"timed out: {commandLine}");
        }
        return (process.ExitCode, output);
    }
}
