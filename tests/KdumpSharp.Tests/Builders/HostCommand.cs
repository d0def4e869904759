using System.Diagnostics;

namespace KdumpSharp.Tests.Builders;

/// <summary>Runs a Debian tool (cpio, ldd, zcat) as an independent oracle for what our code writes or reads.</summary>
internal static class HostCommand
{
    public sealed record Result(int ExitCode, byte[] StandardOutput, string StandardError)
    {
        public string Text => System.Text.Encoding.UTF8.GetString(StandardOutput);
    }

    public static Result Run(string file, IEnumerable<string> arguments, byte[]? standardInput = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        var stdout = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        if (standardInput is not null)
            process.StandardInput.BaseStream.Write(standardInput);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish within a minute");
        }
        copy.Wait();
        return new Result(process.ExitCode, stdout.ToArray(), stderr.Result);
    }

    /// <summary>Runs the command and fails the test, quoting stderr, unless it exits 0.</summary>
    public static Result RunChecked(string file, IEnumerable<string> arguments, byte[]? standardInput = null, string? workingDirectory = null)
    {
        Result result = Run(file, arguments, standardInput, workingDirectory);
        Assert.That(result.ExitCode, Is.Zero, $"{file} {string.Join(' ', arguments)} failed: {result.StandardError}");
        return result;
    }
}
