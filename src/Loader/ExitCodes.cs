namespace KdumpSharp.Loader;

/// <summary>kds-loader's exit codes, documented in README.md ("kds-loader exit codes").</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>A bug in kds-loader.</summary>
    public const int InternalError = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>status: no crash kernel is armed (as kdumpctl status, the LSB "not running").</summary>
    public const int NotArmed = 3;

    /// <summary>Not root: kexec needs CAP_SYS_BOOT.</summary>
    public const int NotRoot = 4;

    /// <summary>The kernel or initramfs could not be opened, or no kernel was found to load.</summary>
    public const int CannotOpen = 5;

    /// <summary>The kernel file is not a bzImage the running kernel can kexec.</summary>
    public const int NotBzImage = 6;

    /// <summary>Refused by lockdown, Secure Boot (IMA), signature enforcement or kernel.kexec_load_disabled.</summary>
    public const int Forbidden = 7;

    /// <summary>crash load: no crashkernel= reservation.</summary>
    public const int NoReservation = 8;

    /// <summary>crash load: the kernel, initramfs and headers do not fit the reservation.</summary>
    public const int RegionTooSmall = 9;

    /// <summary>The command line is longer than the new kernel allows.</summary>
    public const int CommandLineTooLong = 10;

    /// <summary>exec: nothing is loaded.</summary>
    public const int NothingLoaded = 11;

    /// <summary>The kernel lacks kexec_file_load, or a classic image was laid out from a root other than this machine.</summary>
    public const int Unsupported = 12;

    /// <summary>The kernel refused for another reason (EBUSY, EINVAL, ENOMEM) or systemctl kexec failed.</summary>
    public const int KexecFailed = 13;

    /// <summary>crash load: the crash initramfs could not be built (capture.conf, kds-capture, a library or module is missing or malformed).</summary>
    public const int CrashInitramfs = 14;
}
