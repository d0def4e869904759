using System.Runtime.InteropServices;

namespace KdumpSharp.Bench.Measurement;

/// <summary>The host's page cache: emptied before cold runs, and asked how much of a file it holds.</summary>
internal static unsafe class PageCache
{
    private const string DropCachesPath = "/proc/sys/vm/drop_caches";

    /// <summary>Only root may write drop_caches.</summary>
    public static bool CanDrop => LibC.Geteuid() == 0;

    /// <summary>
    /// sync, then "3" to drop_caches: clean page cache, dentries and inodes go, for every process
    /// on the host (other users' programs read from disk again afterwards too).
    /// </summary>
    public static void DropAll()
    {
        LibC.Sync();
        File.WriteAllText(DropCachesPath, "3");
    }

    /// <summary>
    /// How many bytes of <paramref name="path"/> are in the page cache (mincore over a mapping that is
    /// never touched, so asking does not change the answer). After a cold run this is what the
    /// program read of the file, readahead included.
    /// </summary>
    public static long ResidentBytes(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = file.Length;
        if (length == 0)
            return 0;
        int fd = (int)file.SafeFileHandle.DangerousGetHandle();
        nint map = LibC.Mmap(0, (nuint)length, LibC.PROT_READ, LibC.MAP_SHARED, fd, 0);
        if (map == LibC.MAP_FAILED)
            throw new IOException($"mmap {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            long pageSize = Environment.SystemPageSize;
            long pages = (length + pageSize - 1) / pageSize;
            byte* vector = (byte*)NativeMemory.Alloc((nuint)pages);
            try
            {
                if (LibC.Mincore(map, (nuint)length, vector) != 0)
                    throw new IOException($"mincore {path}: {Marshal.GetLastPInvokeErrorMessage()}");
                long resident = 0;
                for (long i = 0; i < pages; i++)
                    resident += vector[i] & 1;
                return Math.Min(resident * pageSize, length);
            }
            finally
            {
                NativeMemory.Free(vector);
            }
        }
        finally
        {
            LibC.Munmap(map, (nuint)length);
        }
    }

    /// <summary>
    /// read_ahead_kb of the block device under <paramref name="path"/>'s file system, or null. A page
    /// fault in a memory-mapped file reads around the faulting page by this much, so it sets how
    /// much of a dump a few scattered reads bring in.
    /// </summary>
    public static int? ReadAheadKiB(string path)
    {
        string full = Path.GetFullPath(path);
        // /proc/self/mountinfo: "id parent major:minor root mountpoint options ..."; the longest mount point containing the path wins.
        string[]? mount = File.ReadLines("/proc/self/mountinfo")
            .Select(l => l.Split(' '))
            .Where(f => f.Length > 4 && (full == f[4] || full.StartsWith(f[4].TrimEnd('/') + "/", StringComparison.Ordinal)))
            .MaxBy(f => f[4].Length);
        if (mount is null)
            return null;
        string device = Path.Combine("/sys/dev/block", mount[2]);
        foreach (string candidate in new[] { Path.Combine(device, "queue", "read_ahead_kb"), Path.Combine(device, "..", "queue", "read_ahead_kb") })
        {
            if (File.Exists(candidate) && int.TryParse(File.ReadAllText(candidate).Trim(), out int kib))
                return kib;
        }
        return null;
    }
}
