using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

/// <summary>mmap(2) and munmap(2), for kds-capture's mapped reading of /proc/vmcore.</summary>
internal static unsafe partial class LibC
{
    public const int PROT_READ = 0x1; // include/uapi/asm-generic/mman-common.h
    public const int MAP_SHARED = 0x01; // include/uapi/linux/mman.h
    public const int MAP_POPULATE = 0x8000; // include/uapi/asm-generic/mman-common.h: fault the whole range in at once

    /// <summary>mmap's error return, (void *)-1.</summary>
    public static readonly void* MapFailed = (void*)-1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* address, nuint length);
}
