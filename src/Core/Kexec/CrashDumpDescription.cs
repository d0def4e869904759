using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// What the crash kernel needs to know about the kernel that will crash, gathered before loading:
/// where each CPU's registers and VMCOREINFO will be written, where the kernel image and the
/// direct map are, and which physical memory is worth dumping.
/// </summary>
public sealed record CrashDumpDescription(
    IReadOnlyList<CpuCrashNote> CrashNotes,
    VmcoreinfoNoteLocation Vmcoreinfo,
    KernelTextMapping KernelText,
    ulong DirectMapBase,
    IReadOnlyList<PhysicalRange> DumpRanges)
{
    /// <summary>
    /// Reads everything from the running system. Dump ranges are every "System RAM" resource (also
    /// nested ones such as "System RAM (kmem)", as kexec-tools does) minus [0, 1 MiB) — 6.1 keeps
    /// it reserved, and the crash kernel reuses it (see <see cref="E820Map.ForCrashKernel"/>) —
    /// minus the crash regions and the AGP "GART" aperture, exactly the exclusions of
    /// arch/x86/kernel/crash.c and kexec-tools' crashdump-x86.c.
    /// </summary>
    public static CrashDumpDescription Read(RunningSystem system, Iomem iomem)
    {
        IReadOnlyList<PhysicalRange> crash = RunningSystem.CrashRegions(iomem);
        return new CrashDumpDescription(
            system.ReadCrashNotes(),
            system.ReadVmcoreinfo(),
            system.ReadKernelTextMapping(iomem),
            system.ReadDirectMapBase(),
            DumpRangesOf(iomem, crash));
    }

    public static IReadOnlyList<PhysicalRange> DumpRangesOf(Iomem iomem, IReadOnlyList<PhysicalRange> crashRegions)
    {
        var holes = crashRegions.Concat(iomem.Find("GART")).Append(new PhysicalRange(new(0), new(E820Map.LowMemoryEnd))).ToList();
        var ram = new List<PhysicalRange>();
        foreach (IomemResource r in iomem.All())
            if (r.Name.StartsWith("System RAM", StringComparison.Ordinal) && !ram.Any(x => x.Overlaps(r.Range)))
                ram.Add(r.Range);
        return ram.OrderBy(r => r.Start).SelectMany(r => E820Map.Subtract(r, holes)).ToList();
    }
}
