using System.Runtime.InteropServices;

namespace KdumpSharp.Interop;

/// <summary>libc calls .NET does not expose. Errors come back as errno through SetLastPInvokeError.</summary>
internal static partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_DIRECTORY = 0x10000; // include/uapi/asm-generic/fcntl.h (x86_64)
    public const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    // include/uapi/linux/fs.h
    public const uint SYNC_FILE_RANGE_WAIT_BEFORE = 1;
    public const uint SYNC_FILE_RANGE_WRITE = 2;
    public const uint SYNC_FILE_RANGE_WAIT_AFTER = 4;

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(int fd, long offset, long count, uint flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPath(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);

    /// <summary>realpath(3): every symlink in <paramref name="path"/> followed; null when a component is missing.</summary>
    public static string? ResolvePath(string path)
    {
        IntPtr resolved = RealPath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    /// <summary>fsync(2) on a directory, so a rename inside it is durable.</summary>
    public static void SyncDirectory(string directory)
    {
        int fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} to sync it: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"cannot sync directory {directory}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            Close(fd);
        }
    }
}
