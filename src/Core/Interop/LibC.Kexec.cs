using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

/// <summary>The libc calls behind kexec_file_load, reboot(LINUX_REBOOT_CMD_KEXEC) and the root check.</summary>
internal static partial class LibC
{
    /// <summary>__NR_kexec_file_load, arch/x86/entry/syscalls/syscall_64.tbl.</summary>
    public const long SysKexecFileLoad = 320;

    /// <summary>LINUX_REBOOT_CMD_KEXEC, include/uapi/linux/reboot.h; glibc's reboot() adds the two magic numbers.</summary>
    public const int RebootCommandKexec = 0x45584543;

    /// <summary>
    /// syscall(2) with the five kexec_file_load arguments. glibc's syscall() is variadic, but on
    /// x86_64 integer varargs travel in the same registers as fixed ones and it reads no va_list.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long KexecFileLoad(long number, int kernelFd, int initrdFd, nuint commandLineLength, nint commandLine, nuint flags);

    [LibraryImport("libc", EntryPoint = "reboot", SetLastError = true)]
    public static partial int Reboot(int command);

    [LibraryImport("libc", EntryPoint = "sync")]
    public static partial void Sync();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();
}
