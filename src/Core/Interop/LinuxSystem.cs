using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

/// <summary>The syscalls an init process needs: mount, module loading, sync, reboot, exec.</summary>
internal static partial class LinuxSystem
{
    /// <summary>finit_module flag: the file is compressed and the kernel decompresses it (include/uapi/linux/module.h).</summary>
    public const int ModuleInitCompressedFile = 4;

    // reboot(2) commands (include/uapi/linux/reboot.h), through glibc's reboot(int), which adds the magic numbers.
    public const int RebootRestart = 0x01234567;
    public const int RebootHalt = unchecked((int)0xCDEF0123);
    public const int RebootPowerOff = 0x4321FEDC;

    public const int EBUSY = 16;
    public const int EEXIST = 17;
    private const long SysFinitModule = 313; // arch/x86/entry/syscalls/syscall_64.tbl

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetProcessId();

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string? fileSystemType, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unmount(string target);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long Syscall(long number, int fd, string parameters, int flags);

    [LibraryImport("libc", EntryPoint = "sync")]
    public static partial void Sync();

    [LibraryImport("libc", EntryPoint = "reboot", SetLastError = true)]
    public static partial int Reboot(int command);

    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Exec(string path, string?[] arguments);

    /// <summary>finit_module(2); glibc has no wrapper.</summary>
    public static int FinitModule(int fd, string parameters, int flags) => (int)Syscall(SysFinitModule, fd, parameters, flags);

    public static string LastError() => Marshal.GetLastPInvokeErrorMessage();

    public static int LastErrno() => Marshal.GetLastPInvokeError();
}
