namespace KdumpSharp.Kexec;

/// <summary>What went wrong, so the CLI can give each kind its own documented exit code.</summary>
public enum KexecFailureKind
{
    /// <summary>Not root (CAP_SYS_BOOT missing).</summary>
    NotRoot,

    /// <summary>Lockdown, Secure Boot's IMA policy, a rejected signature or kernel.kexec_load_disabled.</summary>
    Forbidden,

    /// <summary>The kernel file is not a bzImage the running kernel can kexec.</summary>
    NotBzImage,

    /// <summary>No crashkernel= reservation.</summary>
    NoReservation,

    /// <summary>The crash kernel, initramfs and headers do not fit the reservation.</summary>
    RegionTooSmall,

    /// <summary>The command line is longer than the new kernel's header allows.</summary>
    CommandLineTooLong,

    /// <summary>exec with nothing loaded.</summary>
    NothingLoaded,

    /// <summary>No kernel given and none found in /boot or the boot loader's entries.</summary>
    NoKernelFound,

    /// <summary>The kernel lacks the syscall, or the path cannot act on this system.</summary>
    Unsupported,

    /// <summary>Anything else the kernel refused (EBUSY, EINVAL, ...).</summary>
    Failed,
}

/// <summary>A <see cref="KexecException"/> with a <see cref="KexecFailureKind"/>, for the loader's own checks and errno translations.</summary>
public sealed class KexecFailureException(KexecFailureKind kind, string message, int errno = 0, string? hint = null)
    : KexecException(message, errno, hint)
{
    public KexecFailureKind Kind { get; } = kind;
}
