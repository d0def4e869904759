using KdumpSharp.Architecture;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Analysis;

/// <summary>
/// An opened dump together with the kernel views built on it (virtual memory, log), created on
/// first use so a command pays only for what it asks.
/// </summary>
public sealed class KernelDump : IDisposable
{
    private VirtualMemory? _virtual;
    private KernelLog? _log;

    public KernelDump(IDumpReader reader, DumpLimits? limits = null)
    {
        Reader = reader;
        Limits = limits ?? DumpLimits.Default;
    }

    public static KernelDump Open(string path, DumpLimits? limits = null) => new(DumpFile.Open(path, limits), limits);

    public IDumpReader Reader { get; }
    public DumpLimits Limits { get; }

    /// <summary>VMCOREINFO, required: without it nothing about the kernel can be found.</summary>
    public Vmcoreinfo Vmcoreinfo => Reader.Vmcoreinfo
        ?? throw new KernelDataException($"{Reader.Name} has no VMCOREINFO note, so its kernel cannot be read (a QEMU dump without -device vmcoreinfo?)");

    /// <summary>The crashed kernel's address space, walked through its own page tables.</summary>
    public VirtualMemory Virtual => _virtual ??= new X86_64VirtualMemory(Reader.Memory, Vmcoreinfo);

    /// <summary>The kernel log (printk ring buffer, or log_buf before 5.10).</summary>
    public KernelLog Log => _log ??= KernelLog.Read(Virtual, Vmcoreinfo, Limits);

    public void Dispose() => Reader.Dispose();
}
