using KdumpSharp.Dumps;
using KdumpSharp.Memory;

namespace KdumpSharp.Kernel.Printk;

/// <summary>Which printk buffer the dumped kernel used.</summary>
public enum KernelLogFormat
{
    /// <summary>The lockless ring buffer of 5.10+ (kernel/printk/printk_ringbuffer.c), found through SYMBOL(prb).</summary>
    Lockless,

    /// <summary>The variable-length records in log_buf of 3.5–5.9 (struct printk_log, "struct log" before 3.11).</summary>
    Structured,
}

/// <summary>
/// The kernel log of a dump, read the way kexec-tools' vmcore-dmesg reads it (util_lib/elf_info.c,
/// dump_dmesg_lockless / dump_dmesg_structured): same records, same order, same text bytes, so
/// <see cref="DmesgFormatter"/> can reproduce its output.
/// <para>
/// Error policy. A missing VMCOREINFO key or an implausible size gives <see cref="KernelDataException"/>;
/// a missing page in the few bytes needed to find the buffers (the prb pointer, the ring structure,
/// log_buf's index variables) gives <see cref="MemoryFaultException"/>. Pages missing inside the
/// rings themselves, or one corrupt record, do not stop the read: the records that can be read are
/// returned, and <see cref="Problems"/> says what was skipped and why, so a user still sees the log up
/// to the panic when some page was lost. vmcore-dmesg, in contrast, exits without printing anything
/// when it cannot read a whole ring.
/// </para>
/// </summary>
public sealed class KernelLog
{
    internal KernelLog(KernelLogFormat format, List<LogRecord> records, List<string> problems)
    {
        Format = format;
        Records = records;
        Problems = problems;
    }

    public KernelLogFormat Format { get; }

    /// <summary>Records oldest first, as vmcore-dmesg prints them.</summary>
    public IReadOnlyList<LogRecord> Records { get; }

    /// <summary>What could not be read (unreadable pages, corrupt records, a walk cut short); empty when the log is complete.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>
    /// Reads the log. Uses the lockless ring when VMCOREINFO has SYMBOL(prb) and log_buf's records
    /// when it has SYMBOL(log_first_idx), the same choice as vmcore-dmesg's dump_dmesg(). The plain
    /// character buffer of kernels before 3.5 (SYMBOL(log_end)) is not supported.
    /// </summary>
    public static KernelLog Read(VirtualMemory memory, Vmcoreinfo vmcoreinfo, DumpLimits limits)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(vmcoreinfo);
        ArgumentNullException.ThrowIfNull(limits);
        if (vmcoreinfo.Symbol("prb") is not null)
            return LocklessRingReader.Read(memory, vmcoreinfo, limits);
        if (vmcoreinfo.Symbol("log_first_idx") is not null)
            return StructuredLogReader.Read(memory, vmcoreinfo, limits);
        if (vmcoreinfo.Symbol("log_end") is not null)
            throw new KernelDataException("the dump's kernel predates 3.5 (plain character log_buf with log_end); reading that log is not supported");
        throw new KernelDataException("the dump's VMCOREINFO has neither SYMBOL(prb) (5.10+) nor SYMBOL(log_first_idx) (3.5–5.9): no kernel log to read");
    }
}
