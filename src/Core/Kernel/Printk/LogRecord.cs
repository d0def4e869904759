namespace KdumpSharp.Kernel.Printk;

/// <summary>What a <see cref="LogRecord"/> holds.</summary>
public enum LogRecordKind
{
    /// <summary>A message with text (possibly empty, possibly several lines joined by '\n').</summary>
    Text,

    /// <summary>
    /// A lockless-ring record without a data block: the writer could not get space in the text ring
    /// (FAILED_LPOS) or reserved none (NO_LPOS); kernel/printk/printk_ringbuffer.h. Only the
    /// metadata survives; the kernel's own readers show it as an empty line.
    /// </summary>
    DataLess,

    /// <summary>
    /// The zeroed header with len == 0 that log_store() writes at the end of a 3.5–5.9 log_buf to say
    /// "continue at offset 0" (kernel/printk/printk.c). Not a message; kept because vmcore-dmesg
    /// prints a line for it and <see cref="DmesgFormatter"/> reproduces that output.
    /// </summary>
    WrapMarker,
}

/// <summary>
/// printk's caller_id (5.1+ with CONFIG_PRINTK_CALLER, always recorded since the 5.10 lockless ring):
/// bit 31 set means a CPU number (printk from interrupt context), clear means a task PID
/// (kernel/printk/printk.c printk_caller_id()).
/// </summary>
public readonly record struct PrintkCaller(uint Raw)
{
    private const uint CpuFlag = 0x8000_0000;

    public bool IsCpu => (Raw & CpuFlag) != 0;

    /// <summary>The CPU number or the PID, without the flag bit.</summary>
    public uint Id => Raw & ~CpuFlag;

    /// <summary>"T123" for a task, "C1" for a CPU, as dmesg --caller, makedumpfile and crash print it.</summary>
    public override string ToString() => (IsCpu ? "C" : "T") + Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// One record of the kernel log as the dump holds it. The text is raw bytes (the kernel stores no
/// encoding; vmcore-dmesg escapes non-printable bytes only when printing), without the trailing
/// newline printk strips on store.
/// </summary>
public readonly record struct LogRecord(
    LogRecordKind Kind,
    ulong? Sequence,
    ulong TimestampNanoseconds,
    PrintkCaller? Caller,
    ReadOnlyMemory<byte> Text)
{
    public override string ToString() =>
        $"{Kind} seq={Sequence?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"} ts={TimestampNanoseconds} caller={Caller?.ToString() ?? "-"} text={System.Text.Encoding.UTF8.GetString(Text.Span)}";
}
