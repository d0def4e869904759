namespace KdumpSharp.Capture;

/// <summary>kds-capture's exit codes, documented in README.md ("kds-capture exit codes").</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>A bug in kds-capture.</summary>
    public const int InternalError = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>The input (/proc/vmcore) could not be opened: not in a crash kernel, no permission, I/O error.</summary>
    public const int CannotOpen = 3;

    /// <summary>The input is not a vmcore.</summary>
    public const int NotADump = 4;

    /// <summary>The input's headers are corrupt.</summary>
    public const int CorruptDump = 5;

    /// <summary>The output directory or a file in it could not be created (permission, read-only, exists).</summary>
    public const int OutputError = 7;

    /// <summary>A native compression library is missing.</summary>
    public const int MissingLibrary = 8;

    /// <summary>The disk filled up: dmesg was saved if it fit, the dump is kept as "-incomplete" with every page written before the stop.</summary>
    public const int DiskFull = 9;
}
