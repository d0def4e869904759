using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>The memory map handed to the next kernel in boot_params (and SETUP_E820_EXT beyond 128 entries).</summary>
public sealed class E820Map
{
    /// <summary>Below 1 MiB: the real-mode trampoline's home (arch/x86/realmode/init.c).</summary>
    public const ulong LowMemoryEnd = 1UL << 20;

    /// <summary>e820 entries the kexec'd kernel's map may hold, matching the kernel's own cap (E820_MAX_ENTRIES).</summary>
    public const int MaxEntries = 3 * 128 + 128;

    private E820Map(IReadOnlyList<E820Entry> entries)
    {
        if (entries.Count > MaxEntries)
            throw new KexecException($"memory map has {entries.Count} entries, more than the {MaxEntries} a kernel accepts");
        Entries = entries;
    }

    /// <summary>Entries sorted by address.</summary>
    public IReadOnlyList<E820Entry> Entries { get; }

    /// <summary>A normal kexec: the firmware's map as the running kernel received it (/sys/firmware/memmap).</summary>
    public static E820Map FromFirmware(IReadOnlyList<E820Entry> firmware) =>
        new(firmware.OrderBy(e => e.Range.Start).ToList());

    /// <summary>
    /// Fallback when /sys/firmware/memmap is absent (CONFIG_FIRMWARE_MEMMAP off): the top-level
    /// /proc/iomem ranges that are e820 ranges. Less exact (the kernel may have trimmed them).
    /// </summary>
    public static E820Map FromIomem(Iomem iomem) =>
        new(iomem.TopLevel
            .Select(r => (r.Range, Type: E820Entry.TypeFromName(r.Name)))
            .Where(r => r.Type is not null)
            .Select(r => new E820Entry(r.Range, r.Type!.Value))
            .OrderBy(e => e.Range.Start)
            .ToList());

    /// <summary>
    /// The crash kernel's map: it may use only memory the crashed kernel never touched, and it must
    /// still reach firmware tables. Follows arch/x86/kernel/crash.c crash_setup_memmap_entries (the
    /// kexec_file path of 6.1), which differs from kexec-tools only in the low memory it hands out:
    /// <list type="bullet">
    /// <item>System RAM below 1 MiB, as RAM. Linux 6.1 keeps [0, 1 MiB) out of its own allocator
    /// (arch/x86/realmode/init.c reserve_real_mode), so the crashed kernel has nothing there worth
    /// keeping, and the crash kernel panics without low RAM for its trampoline. kexec-tools gives
    /// only the first RAM range below 640 KiB and copies it to a backup segment first — needed
    /// before 5.x, not for the kernels we load; our ELF core header leaves [0, 1 MiB) out instead.</item>
    /// <item>"ACPI Tables" (type 3), "ACPI Non-volatile Storage" (4) and "Reserved" (2) ranges, so
    /// the crash kernel maps and keeps them; kexec-tools also passes persistent memory, which we keep.</item>
    /// <item>Every crash region ("Crash kernel", the high one and a crashkernel=,low one) as RAM,
    /// minus <paramref name="excluded"/> (the ELF core header, which must survive until
    /// /proc/vmcore is read). Pieces under a page are dropped, as the kernel does.</item>
    /// </list>
    /// </summary>
    public static E820Map ForCrashKernel(Iomem iomem, IReadOnlyList<PhysicalRange> crashRegions, IReadOnlyList<PhysicalRange> excluded)
    {
        var entries = new List<E820Entry>();
        var low = new PhysicalRange(new(0), new(LowMemoryEnd));
        foreach (IomemResource r in iomem.TopLevel)
            if (r.Name == "System RAM" && r.Range.Overlaps(low))
                entries.Add(new E820Entry(Intersect(r.Range, low), E820Type.Ram));
        foreach (IomemResource r in iomem.All())
        {
            E820Type? type = E820Entry.TypeFromName(r.Name);
            if (type is E820Type.Acpi or E820Type.Nvs or E820Type.Reserved or E820Type.PersistentMemory or E820Type.LegacyPersistentMemory)
                entries.Add(new E820Entry(r.Range, type.Value));
        }
        foreach (PhysicalRange region in crashRegions)
            foreach (PhysicalRange piece in Subtract(region, excluded))
                if (piece.Length >= PageFrameNumber.PageSize)
                    entries.Add(new E820Entry(piece, E820Type.Ram));
        return new E820Map(entries.OrderBy(e => e.Range.Start).ToList());
    }

    private static PhysicalRange Intersect(PhysicalRange a, PhysicalRange b) =>
        new(a.Start > b.Start ? a.Start : b.Start, a.End < b.End ? a.End : b.End);

    /// <summary><paramref name="range"/> with every range of <paramref name="holes"/> cut out, in address order.</summary>
    internal static IEnumerable<PhysicalRange> Subtract(PhysicalRange range, IEnumerable<PhysicalRange> holes)
    {
        PhysicalAddress cursor = range.Start;
        foreach (PhysicalRange hole in holes.Where(h => h.Overlaps(range)).OrderBy(h => h.Start))
        {
            if (hole.Start > cursor)
                yield return new PhysicalRange(cursor, hole.Start);
            if (hole.End > cursor)
                cursor = hole.End;
        }
        if (cursor < range.End)
            yield return new PhysicalRange(cursor, range.End);
    }
}
