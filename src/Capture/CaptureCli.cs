using System.Reflection;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.IO;
using KdumpSharp.Text;

namespace KdumpSharp.Capture;

/// <summary>The kds-capture command line: parses arguments, runs the capture, prints.</summary>
public static class CaptureCli
{
    /// <param name="openStandardOutput">Where --stdout streams the dump (the process's stdout; a buffer in tests).</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, Func<Stream>? openStandardOutput = null)
    {
        try
        {
            CaptureArguments parsed = CaptureArguments.Parse(args);
            switch (parsed.Request)
            {
                case CaptureRequest.Help:
                    output.Write(CaptureArguments.Help);
                    return ExitCodes.Success;
                case CaptureRequest.Version:
                    output.WriteLine(typeof(CaptureCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
                    return ExitCodes.Success;
            }
            var log = new CaptureLog(parsed.IsQuiet ? null : error);
            Func<ulong, IProgress<double>?>? progress = parsed.IsQuiet ? null : total => new ConsoleProgress(error, total);
            if (parsed.ToStdout)
            {
                using Stream pipe = (openStandardOutput ?? Console.OpenStandardOutput)();
                CaptureRunner.Stream(parsed.Options, pipe, log, progress);
                return ExitCodes.Success;
            }
            CaptureResult result = CaptureRunner.Run(parsed.Options, log, progress);
            output.WriteLine(result.DumpPath);
            return result.Outcome == CaptureOutcome.DiskFull ? ExitCodes.DiskFull : ExitCodes.Success;
        }
        catch (Exception e)
        {
            return Render(e, error);
        }
    }

    /// <summary>One line on stderr and a documented code for every failure; KDS_DEBUG=1 adds the stack.</summary>
    private static int Render(Exception e, TextWriter error)
    {
        (int code, string message) = e switch
        {
            UsageException u => (ExitCodes.Usage, u.Message),
            CompressionUnavailableException c => (ExitCodes.MissingLibrary, c.Message),
            UnrecognizedDumpException u => (ExitCodes.NotADump, u.Message),
            DumpFormatException f => (ExitCodes.CorruptDump, f.Message),
            FileNotFoundException nf => (ExitCodes.CannotOpen, $"{nf.FileName}: no such file (is this the crash kernel? /proc/vmcore exists only there)"),
            CaptureOutputException o => (ExitCodes.OutputError, o.Message),
            UnauthorizedAccessException a => (ExitCodes.CannotOpen, $"permission denied: {a.Message} (kds-capture must run as root)"),
            IOException io when CrashSafeFile.IsOutOfSpace(io) => (ExitCodes.DiskFull, $"disk full: {io.Message}"),
            IOException io => (ExitCodes.OutputError, io.Message),
            _ => (ExitCodes.InternalError, $"internal error ({e.GetType().Name}): {e.Message}"),
        };
        error.WriteLine($"kds-capture: {OneLineText.Escape(message)}");
        if (Environment.GetEnvironmentVariable("KDS_DEBUG") == "1")
            error.WriteLine(e);
        return code;
    }
}

/// <summary>Options that parse but do not go together.</summary>
public sealed class UsageException(string message) : Exception(message);
