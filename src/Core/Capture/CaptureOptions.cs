using KdumpSharp.Compression;
using KdumpSharp.Filtering;

namespace KdumpSharp.Capture;

/// <summary>The container kds-capture writes.</summary>
public enum CaptureFormat
{
    /// <summary>KdumpSharp's own crash-safe, streamable format (docs/format.md).</summary>
    Native,

    /// <summary>makedumpfile's kdump-compressed format, for sites whose tooling expects it.</summary>
    Kdump,
}

/// <summary>What one capture does.</summary>
public sealed record CaptureOptions
{
    /// <summary>The vmcore to read: /proc/vmcore in the crash kernel, or any ELF vmcore file.</summary>
    public string Input { get; init; } = "/proc/vmcore";

    /// <summary>The root under which the per-crash directory is created.</summary>
    public string Directory { get; init; } = "/var/crash";

    public CaptureFormat Format { get; init; } = CaptureFormat.Native;

    public PageCompression Compression { get; init; } = PageCompression.Lz4;

    /// <summary>The kds format's codec speed/size knob (zstd level, LZ4 acceleration); null for the writer's default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>makedumpfile's dump level: bits 1 zero, 2 cache, 4 private cache, 8 user, 16 free. 31 like every distro.</summary>
    public int DumpLevel { get; init; } = 31;

    /// <summary>Compression threads; 0 means one per CPU the crash kernel has.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Read the kept pages through mmap(2) of the vmcore, 1 MiB at a time, instead of pread(2): no copy
    /// of the pages into the process, and zero pages are tested where they lie.
    /// <para>
    /// Null, the default, maps /proc/vmcore and reads a vmcore file, as makedumpfile does. For
    /// /proc/vmcore the two reach the first kernel's memory the same way (fs/proc/vmcore.c:
    /// read_from_oldmem copies each page with copy_oldmem_page, mmap_vmcore remaps the same frames
    /// with remap_oldmem_pfn_range, and frames pfn_is_ram rejects read as zeros either way), so
    /// mapping loses nothing and saves read's ioremap, copy and iounmap per page
    /// (arch/x86/kernel/crash_dump_64.c). A mapping that fails falls back to reading that batch.
    /// For a file on a disk, a read error costs one unreadable page with pread but kills the
    /// process with SIGBUS through a mapping, so true there is a choice of speed over that;
    /// the kds format keeps what was written before such a stop readable.
    /// </para>
    /// </summary>
    public bool? Mmap { get; init; }

    /// <summary>
    /// Record a kept page that has the same bytes as one stored earlier as a copy of it (docs/format.md
    /// §4.1) instead of compressing it again. The kds format only; files with copies need a KdumpSharp
    /// that knows them.
    /// <para>
    /// Null, the default, looks for copies when the dump level keeps user, page-cache or free pages,
    /// where memory holds the same data many times over and copies make the dump both smaller and
    /// faster (the realistic 4 GiB dump at level 1: 724 against 1892 MB, 0.6 of the time). A level
    /// that keeps only the kernel's own pages, 31 among them, finds few: 2 553 of 32 489 stored pages
    /// on that dump, a file 1.8 % smaller, for ~10 % more time on one thread, which is what a crash
    /// kernel has (docs/format.md §4.5).
    /// </para>
    /// </summary>
    public bool? Deduplicate { get; init; }

    /// <summary>Whether the capture looks for copies: <see cref="Deduplicate"/>, or by default whether
    /// <see cref="DumpLevel"/> keeps any user, page-cache or free page.</summary>
    public bool FindsCopies => Deduplicate ?? DumpLevels.FromNumber(DumpLevel).KeepsBulkMemory();

    /// <summary>The name used for the directory; null takes the crashed kernel's nodename, else this machine's.</summary>
    public string? HostName { get; init; }
}
