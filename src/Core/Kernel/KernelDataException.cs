namespace KdumpSharp.Kernel;

/// <summary>
/// The dump lacks, or has implausible, kernel data an operation needs: a missing VMCOREINFO key,
/// a printk ring with an impossible size, a page table that loops.
/// </summary>
public sealed class KernelDataException(string message) : Exception(message);
