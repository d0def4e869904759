using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.Kexec;
using KdumpSharp.Text;

namespace KdumpSharp.Loader;

/// <summary>
/// The only place kds-loader's failures become text: one line on stderr ("kds-loader: what
/// happened (hint)") and a documented exit code. KDS_DEBUG=1 adds the stack.
/// </summary>
public static class ErrorRenderer
{
    public static int Render(Exception exception, TextWriter error)
    {
        (int code, string message) = Classify(exception);
        error.WriteLine($"kds-loader: {OneLineText.Escape(message)}");
        if (Environment.GetEnvironmentVariable("KDS_DEBUG") == "1")
            error.WriteLine(exception.ToString());
        return code;
    }

    private static (int Code, string Message) Classify(Exception e) => e switch
    {
        UsageException u => (ExitCodes.Usage, u.Message),
        KexecFailureException f => (CodeOf(f.Kind), WithHint(f)),
        BzImageFormatException b => (ExitCodes.NotBzImage, b.Message),
        KexecException k => (CodeOfErrno(k.Errno), WithHint(k)),
        InitramfsInputException i => (ExitCodes.CrashInitramfs, i.Message),
        CaptureConfigurationException c => (ExitCodes.CrashInitramfs, c.Message),
        FileNotFoundException nf => (ExitCodes.CannotOpen, $"{nf.FileName ?? "file"}: no such file"),
        DirectoryNotFoundException d => (ExitCodes.CannotOpen, d.Message),
        UnauthorizedAccessException a => (ExitCodes.NotRoot, $"permission denied: {a.Message} (run kds-loader as root)"),
        IOException io => (ExitCodes.CannotOpen, $"I/O error: {io.Message}"),
        _ => (ExitCodes.InternalError, $"internal error ({e.GetType().Name}): {e.Message} — please report this with KDS_DEBUG=1 output"),
    };

    private static string WithHint(KexecException k) => k.Hint is null ? k.Message : $"{k.Message} ({k.Hint})";

    internal static int CodeOf(KexecFailureKind kind) => kind switch
    {
        KexecFailureKind.NotRoot => ExitCodes.NotRoot,
        KexecFailureKind.Forbidden => ExitCodes.Forbidden,
        KexecFailureKind.NotBzImage => ExitCodes.NotBzImage,
        KexecFailureKind.NoReservation => ExitCodes.NoReservation,
        KexecFailureKind.RegionTooSmall => ExitCodes.RegionTooSmall,
        KexecFailureKind.CommandLineTooLong => ExitCodes.CommandLineTooLong,
        KexecFailureKind.NothingLoaded => ExitCodes.NothingLoaded,
        KexecFailureKind.NoKernelFound => ExitCodes.CannotOpen,
        KexecFailureKind.Unsupported => ExitCodes.Unsupported,
        _ => ExitCodes.KexecFailed,
    };

    /// <summary>A <see cref="KexecException"/> without a kind (the classic path's) is classified by its errno.</summary>
    private static int CodeOfErrno(int errno) => errno switch
    {
        KexecErrno.EPERM or KexecErrno.EACCES => ExitCodes.Forbidden,
        KexecErrno.ENOEXEC => ExitCodes.NotBzImage,
        KexecErrno.ENOMEM or KexecErrno.EADDRNOTAVAIL => ExitCodes.RegionTooSmall,
        KexecErrno.ENOSYS => ExitCodes.Unsupported,
        _ => ExitCodes.KexecFailed,
    };
}

/// <summary>Options that parse but do not go together.</summary>
public sealed class UsageException(string message) : Exception(message);
