using System.Diagnostics;

namespace KdumpSharp.VmTests.Harness;

/// <summary>Runs a host tool (makedumpfile, vmcore-dmesg) to completion with a time limit.</summary>
internal static class HostProcess
{
    /// <param name="ExitCode">The tool's exit status.</param>
    /// <param name="Output">Its stderr, and its stdout unless that went to a file.</param>
    /// <param name="Elapsed">Wall-clock time.</param>
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed);

    /// <param name="workingDirectory">Where the tool runs; relative paths in its arguments and messages are relative to it.</param>
    /// <param name="standardOutputPath">If set, stdout is written to this file (makedumpfile -F, vmcore-dmesg) instead of being captured.</param>
    public static Result Run(string file, IReadOnlyList<string> arguments, string workingDirectory, TimeSpan timeout, string? standardOutputPath = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout;
        if (standardOutputPath is null)
            stdout = process.StandardOutput.ReadToEndAsync();
        else
        {
            stdout = Task.Run(async () =>
            {
                await using var target = new FileStream(Path.Combine(workingDirectory, standardOutputPath), FileMode.CreateNew, FileAccess.Write);
                await process.StandardOutput.BaseStream.CopyToAsync(target);
                return "";
            });
        }
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:0} s");
        }
        Task.WaitAll(stdout, stderr);
        return new Result(process.ExitCode, (stderr.Result + stdout.Result).Trim(), clock.Elapsed);
    }
}
