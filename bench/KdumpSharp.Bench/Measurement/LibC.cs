using System.Runtime.InteropServices;

namespace KdumpSharp.Bench.Measurement;

/// <summary>
/// libc calls the bench needs and .NET does not expose: posix_spawn and wait4, so each run's
/// rusage (CPU, blocks read) belongs to the measured program alone, and mincore, to see
/// how much of a dump a program pulled into the page cache. x86_64 glibc layouts.
/// </summary>
internal static unsafe partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_TRUNC = 0x200;

    public const int PROT_READ = 1;
    public const int MAP_SHARED = 1;
    public static readonly nint MAP_FAILED = -1;

    public const int EINTR = 4;

    /// <summary>
    /// glibc's posix_spawn_file_actions_t is 80 bytes (two ints, a pointer, 16 ints of padding);
    /// the bench allocates more so a different layout cannot overrun.
    /// </summary>
    public const int FileActionsBytes = 256;

    /// <summary>struct timeval (include/uapi/linux/time.h): seconds and microseconds, both long.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long tv_sec;
        public long tv_usec;

        public readonly double Seconds => tv_sec + tv_usec / 1e6;
    }

    /// <summary>struct rusage (include/uapi/linux/resource.h), every field a long after the two timevals.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RUsage
    {
        public TimeVal ru_utime;
        public TimeVal ru_stime;
        /// <summary>Peak resident set in KiB (see <see cref="MeasuredProcess"/> for why the bench does not use it).</summary>
        public long ru_maxrss;
        public long ru_ixrss;
        public long ru_idrss;
        public long ru_isrss;
        public long ru_minflt;
        public long ru_majflt;
        public long ru_nswap;
        /// <summary>Bytes the task read from block devices, in 512-byte units (task_io_accounting read_bytes &gt;&gt; 9).</summary>
        public long ru_inblock;
        public long ru_oublock;
        public long ru_msgsnd;
        public long ru_msgrcv;
        public long ru_nsignals;
        public long ru_nvcsw;
        public long ru_nivcsw;
    }

    /// <summary>Returns 0 or an error number (posix_spawn does not set errno).</summary>
    [LibraryImport("libc", EntryPoint = "posix_spawn")]
    public static partial int PosixSpawn(out int pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    public static partial int FileActionsInit(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
    public static partial int FileActionsAddOpen(void* actions, int fd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    public static partial int FileActionsDestroy(void* actions);

    [LibraryImport("libc", EntryPoint = "wait4", SetLastError = true)]
    public static partial int Wait4(int pid, out int status, int options, out RUsage usage);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    [LibraryImport("libc", EntryPoint = "sync")]
    public static partial void Sync();

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    public static partial int Mincore(nint address, nuint length, byte* vector);
}
