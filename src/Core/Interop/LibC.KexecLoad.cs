using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

internal static partial class LibC
{
    /// <summary>__NR_kexec_load on x86_64 (arch/x86/entry/syscalls/syscall_64.tbl); glibc has no wrapper.</summary>
    public const long SysKexecLoad = 246;

    /// <summary>struct kexec_segment (include/uapi/linux/kexec.h): buf, bufsz, mem, memsz — 32 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct KexecSegmentNative
    {
        public void* Buffer;        // buf: user-space address of the bytes
        public nuint BufferSize;    // bufsz
        public ulong Memory;        // mem: physical destination
        public nuint MemorySize;    // memsz
    }

    /// <summary>syscall(2) with kexec_load's four arguments; the x86_64 ABI passes them in registers like any call.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static unsafe partial long SyscallKexecLoad(long number, ulong entry, ulong segmentCount, KexecSegmentNative* segments, ulong flags);
}
