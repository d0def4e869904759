namespace KdumpSharp.Dumps;

/// <summary>
/// Caps on every count and size read from an input file, checked before anything is allocated,
/// so a corrupt or hostile dump costs bounded memory and time.
/// </summary>
public sealed record DumpLimits
{
    public static DumpLimits Default { get; } = new();

    /// <summary>ELF program headers (a machine with very fragmented RAM still has a few hundred).</summary>
    public int MaxProgramHeaders { get; init; } = 65_536;

    /// <summary>Bytes of ELF notes (per-CPU NT_PRSTATUS is 368 bytes; 8192 CPUs need 3 MiB).</summary>
    public int MaxNotesBytes { get; init; } = 16 << 20;

    /// <summary>Number of ELF notes.</summary>
    public int MaxNotes { get; init; } = 65_536;

    /// <summary>VMCOREINFO text (the kernel caps it at one page; leave room for odd builds).</summary>
    public int MaxVmcoreinfoBytes { get; init; } = 1 << 20;

    /// <summary>Records in a makedumpfile flattened file.</summary>
    public int MaxFlattenedRecords { get; init; } = 64 << 20;

    /// <summary>Log records decoded from the printk buffer.</summary>
    public int MaxLogRecords { get; init; } = 4 << 20;

    /// <summary>Bytes of one log buffer (the kernel's log_buf_len= maxes out far below this).</summary>
    public long MaxLogBufferBytes { get; init; } = 1L << 30;

    /// <summary>Highest page frame number a dump may describe (2^40 frames = 4 PiB).</summary>
    public ulong MaxPageFrames { get; init; } = 1UL << 40;

    /// <summary>Bytes of one metadata section of a KdumpSharp native dump other than its ELF notes (the
    /// saved dmesg, the capture log, the index), and of all CaptureLog sections together.</summary>
    public int MaxNativeSectionBytes { get; init; } = 256 << 20;
}
