namespace KdumpSharp.Kexec;

/// <summary>
/// A kexec operation failed. Carries the errno the kernel returned (0 when the failure was found
/// before any syscall) and a hint that tells the user what to do; the CLI prints both on one line.
/// </summary>
public class KexecException : Exception
{
    public KexecException(string message, int errno = 0, string? hint = null)
        : base(message)
    {
        Errno = errno;
        Hint = hint;
    }

    /// <summary>The errno from the syscall, or 0.</summary>
    public int Errno { get; }

    /// <summary>What to do about it, as one sentence, or null.</summary>
    public string? Hint { get; }
}
