using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

/// <summary>mmap(2), munmap(2), fstatfs(2) and lseek(2)'s SEEK_DATA, for kds-capture's reading of /proc/vmcore and vmcore
/// files, and the anonymous mapping that holds its copy table (<see cref="KdumpSharp.Dumps.Native.DuplicatePageIndex"/>).</summary>
internal static unsafe partial class LibC
{
    public const int PROT_READ = 0x1; // include/uapi/asm-generic/mman-common.h
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01; // include/uapi/linux/mman.h
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_ANONYMOUS = 0x20; // include/uapi/asm-generic/mman-common.h: zero pages, faulted in on first touch
    public const int MAP_NORESERVE = 0x4000; // include/uapi/asm-generic/mman.h: no swap reserved for what is never touched
    public const int MAP_POPULATE = 0x8000; // include/uapi/asm-generic/mman-common.h: fault the whole range in at once

    /// <summary>mmap's error return, (void *)-1.</summary>
    public static readonly void* MapFailed = (void*)-1;

    public const int SEEK_DATA = 3; // include/uapi/linux/fs.h
    public const int ENXIO = 6; // include/uapi/asm-generic/errno-base.h: SEEK_DATA found no data past the offset

    public const long PROC_SUPER_MAGIC = 0x9fa0; // include/uapi/linux/magic.h

    /// <summary>struct statfs on x86-64 (include/uapi/asm-generic/statfs.h): f_type is its first member, a long; 120 bytes in all.</summary>
    public const int StatfsSize = 120;

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* address, nuint length);
}
