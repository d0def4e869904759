namespace KdumpSharp.Analyzer;

/// <summary>kds-analyzer's exit codes, documented in README.md ("Exit codes").</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>A bug in kds-analyzer: please report it.</summary>
    public const int InternalError = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>The input could not be opened or read (missing, no permission, I/O error).</summary>
    public const int CannotOpen = 3;

    /// <summary>The input is not a dump we read (compressed copy, kernel image, unknown format).</summary>
    public const int NotADump = 4;

    /// <summary>The dump is corrupt or truncated beyond what can be read.</summary>
    public const int CorruptDump = 5;

    /// <summary>What was asked is not in the dump (excluded or missing page, unmapped address, missing VMCOREINFO).</summary>
    public const int DataUnavailable = 6;

    /// <summary>The output could not be written (exists already, no space, no permission).</summary>
    public const int OutputError = 7;

    /// <summary>A native library the dump's compression needs is not installed (liblzo2, libzstd, libsnappy).</summary>
    public const int MissingLibrary = 8;
}
