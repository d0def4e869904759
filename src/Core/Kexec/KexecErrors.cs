using KdumpSharp.Interop;
using static KdumpSharp.Kexec.KexecErrno;

namespace KdumpSharp.Kexec;

/// <summary>Which call failed, for the translation of its errno.</summary>
public enum KexecOperation
{
    FileLoad,
    Unload,
    Reboot,
}

/// <summary>
/// Turns the errno of a kexec syscall into a sentence that names the cause, using what the
/// system shows (lockdown, Secure Boot, kexec_load_disabled, the reservation, our uid), since the
/// kernel reuses EPERM and EINVAL for several causes (kernel/kexec.c, kernel/kexec_file.c).
/// </summary>
public static class KexecErrors
{
    public static KexecFailureException Translate(int errno, KexecOperation operation, KexecFileRequest? request, KexecStatus status, SystemRoot root)
    {
        string call = operation switch
        {
            KexecOperation.FileLoad => "kexec_file_load",
            KexecOperation.Unload => "kexec_file_load(UNLOAD)",
            _ => "reboot(LINUX_REBOOT_CMD_KEXEC)",
        };
        string refused = $"{call} failed with {Name(errno)}";
        bool isRoot = root != SystemRoot.Live || LibC.GetEffectiveUserId() == 0;
        switch (errno)
        {
            case EPERM when !isRoot:
                return new(KexecFailureKind.NotRoot, $"{refused}: kexec needs root (CAP_SYS_BOOT)", errno, "run kds-loader as root");
            case EPERM when status.LoadDisabled == true:
                return new(KexecFailureKind.Forbidden, $"{refused}: kernel.kexec_load_disabled is 1, so no kernel can be loaded until the next boot", errno);
            case EPERM when status.Lockdown is { } mode && mode != "none":
                return new(KexecFailureKind.Forbidden,
                    $"{refused}: the kernel is locked down ({mode}) and {request?.Kernel ?? "the image"} carries no signature it trusts",
                    errno, "load a kernel signed by a key in the kernel's keyrings or the UEFI db (distribution kernels are)");
            case EPERM:
                return new(KexecFailureKind.Forbidden, $"{refused}: the kernel's security policy refused it", errno);
            case EACCES:
                return new(KexecFailureKind.Forbidden,
                    $"{refused}: IMA appraisal refused the kernel or initramfs{(status.SecureBoot == SecureBootState.Enabled ? " (Secure Boot is on)" : "")}",
                    errno, "load a signed distribution kernel");
            case int signature when IsSignatureFailure(signature):
                return new(KexecFailureKind.Forbidden,
                    $"{refused}: the signature of {request?.Kernel ?? "the kernel"} was not accepted (signatures are enforced: lockdown, Secure Boot or KEXEC_SIG_FORCE)",
                    errno, "load a kernel signed by a key in the kernel's keyrings or the UEFI db");
            case ENOEXEC:
                return new(KexecFailureKind.NotBzImage,
                    $"{refused}: the running kernel does not take {request?.Kernel ?? "the image"} "
                    + "(kexec_file_load needs a 64-bit bzImage loadable above 4 GiB, boot protocol 2.12 or later)", errno);
            case ENOMEM or EADDRNOTAVAIL when request is { OnCrash: true }:
                return new(KexecFailureKind.RegionTooSmall,
                    $"{refused}: the crash kernel, initramfs and headers do not fit the {KexecFile.Mib(status.ReservedBytes)} crashkernel reservation",
                    errno, "raise crashkernel= on the kernel command line or use a smaller initramfs");
            case ENOMEM:
                return new(KexecFailureKind.Failed, $"{refused}: not enough free memory to stage the new kernel", errno);
            case EBUSY:
                return new(KexecFailureKind.Failed, $"{refused}: another kexec load (or a panic) holds the kexec lock", errno, "try again");
            case EINVAL when operation == KexecOperation.Reboot:
                return new(KexecFailureKind.NothingLoaded, $"{refused}: no kernel is loaded", errno, "run kds-loader load first");
            case ENOSYS or EOPNOTSUPP or ENOTSUPP:
                return new(KexecFailureKind.Unsupported, $"{refused}: this kernel has no kexec_file_load (CONFIG_KEXEC_FILE is off)", errno);
            default:
                return new(KexecFailureKind.Failed, $"{refused}: the kernel refused the arguments", errno);
        }
    }

    /// <summary>
    /// Whether the classic kexec_load may succeed where kexec_file_load failed with
    /// <paramref name="errno"/>: the kernel lacks the file syscall, or its in-kernel bzImage loader
    /// refused an image user space can still lay out (ENOEXEC, EINVAL, ENOTSUPP), as kexec-tools
    /// 2.0.27's -a decides. Never after a signature failure: that would bypass the policy. Whether
    /// kexec_load is open at all is <see cref="KexecStatus.ClassicLoadForbidden"/>.
    /// </summary>
    public static bool ClassicCouldLoad(int errno) => errno is ENOSYS or ENOEXEC or EINVAL or EOPNOTSUPP or ENOTSUPP;
}
