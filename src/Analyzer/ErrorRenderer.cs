using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Text;

namespace KdumpSharp.Analyzer;

/// <summary>
/// Turns every failure into one line on stderr and a documented exit code. This is the only
/// place exceptions become text, so no stack trace reaches the user (set KDS_DEBUG=1 to see one).
/// </summary>
public static class ErrorRenderer
{
    public static int Render(Exception exception, TextWriter error)
    {
        (int code, string message) = Classify(exception);
        error.WriteLine($"kds-analyzer: {OneLineText.Escape(message)}");
        if (Environment.GetEnvironmentVariable("KDS_DEBUG") == "1")
            error.WriteLine(exception.ToString());
        return code;
    }

    private static (int Code, string Message) Classify(Exception e) => e switch
    {
        UsageException usage => (ExitCodes.Usage, usage.Message),
        OutputException o => (ExitCodes.OutputError, o.Message),
        CompressionUnavailableException c => (ExitCodes.MissingLibrary, c.Message),
        UnrecognizedDumpException u => (ExitCodes.NotADump, u.Message),
        DumpFormatException f => (ExitCodes.CorruptDump, f.Message),
        MemoryFaultException m => (ExitCodes.DataUnavailable, m.Message),
        KernelDataException k => (ExitCodes.DataUnavailable, k.Message),
        FileNotFoundException nf => (ExitCodes.CannotOpen, $"{nf.FileName ?? "file"}: no such file"),
        DirectoryNotFoundException d => (ExitCodes.CannotOpen, d.Message),
        UnauthorizedAccessException a => (ExitCodes.CannotOpen, $"permission denied: {a.Message}"),
        IOException io => (ExitCodes.CannotOpen, $"I/O error: {io.Message}"),
        _ => (ExitCodes.InternalError, $"internal error ({e.GetType().Name}): {e.Message} — please report this with KDS_DEBUG=1 output"),
    };
}

/// <summary>Writing the command's output failed (the file exists, the disk is full). Carries the user-facing sentence.</summary>
public sealed class OutputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>An argument parsed but makes no sense (an address that is not hex, a length too large).</summary>
public sealed class UsageException(string message) : Exception(message);
