using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>A built image with its parts named, the command line it passes and the memory map it hands over.</summary>
public sealed record ClassicImage(KexecImage Image, IReadOnlyList<VerifiedSegment> Segments, string CommandLine, E820Map MemoryMap);

/// <summary>What a crash load needs beyond a normal one.</summary>
public sealed record CrashLoadContext(Iomem Iomem, CrashDumpDescription Dump)
{
    /// <summary>The "Crash kernel" ranges; segments go into the highest.</summary>
    public IReadOnlyList<PhysicalRange> Regions { get; } = RunningSystem.CrashRegions(Iomem);
}

/// <summary>
/// Builds the classic kexec_load image: the protected-mode kernel, the initrd, the boot_params
/// segment (zero page + command line + setup_data), for crash loads the ELF core header, and the
/// purgatory, each placed top-down in free memory and verified by the purgatory before it jumps.
/// </summary>
public static class ClassicImageBuilder
{
    /// <summary>Highest address we place anything at: 64 TiB, the 4-level direct map's limit (MAXMEM).</summary>
    private const ulong MaxAddress = 1UL << 46;

    /// <summary>kexec_file keeps the initrd at or above 16 MiB (arch/x86/kernel/kexec-bzimage64.c); so do we.</summary>
    private const ulong InitrdMinimum = 16UL << 20;

    private const ulong Page = PageFrameNumber.PageSize;

    /// <summary>
    /// Free space left at the start of the crash region for what the kernel allocates there first-fit
    /// at load time (kernel/kexec_core.c kimage_alloc_crash_control_pages): the control page,
    /// the identity-map page tables of all RAM (arch/x86/kernel/machine_kexec_64.c init_pgtable;
    /// one PMD page per GiB without gbpages) and the vmcoreinfo safecopy page. 1 MiB plus 8 KiB per
    /// GiB of RAM covers that with room to spare.
    /// </summary>
    public static ulong CrashControlReserve(ulong totalRam) => (1UL << 20) + (totalRam >> 30) * 2 * Page;

    /// <summary>A normal kexec with the memory map and zero page of the running system.</summary>
    public static ClassicImage BuildNormal(RunningSystem system, BzImage kernel, ReadOnlyMemory<byte> initrd, string commandLine, int? wrongChecksumFor = null) =>
        BuildNormal(kernel, initrd, commandLine, system.ReadNormalMemoryMap(), system.ReadBootParams(), wrongChecksumFor);

    /// <summary>A crash kernel described from the running system (needs root: iomem, kallsyms and kcore show addresses only to it).</summary>
    public static ClassicImage BuildCrash(RunningSystem system, BzImage kernel, ReadOnlyMemory<byte> initrd, string commandLine, int? wrongChecksumFor = null)
    {
        Iomem iomem = system.ReadIomem();
        var crash = new CrashLoadContext(iomem, CrashDumpDescription.Read(system, iomem));
        return BuildCrash(kernel, initrd, commandLine, crash, system.ReadBootParams(), wrongChecksumFor);
    }

    /// <summary>A normal kexec into <paramref name="map"/>'s RAM.</summary>
    public static ClassicImage BuildNormal(BzImage kernel, ReadOnlyMemory<byte> initrd, string commandLine, E820Map map,
        ReadOnlySpan<byte> runningBootParams, int? wrongChecksumFor = null)
    {
        var allocator = new TopDownAllocator(map.Entries.Where(e => e.Type == E820Type.Ram)
            .Select(e => new PhysicalRange(new(BzImage.AlignUp(e.Range.Start.Value, Page)), new(e.Range.End.Value & ~(Page - 1)))));
        return Build(kernel, initrd, commandLine, allocator, runningBootParams, crash: null, _ => map, wrongChecksumFor, "RAM");
    }

    /// <summary>A crash kernel inside the highest "Crash kernel" region.</summary>
    public static ClassicImage BuildCrash(BzImage kernel, ReadOnlyMemory<byte> initrd, string commandLine, CrashLoadContext crash,
        ReadOnlySpan<byte> runningBootParams, int? wrongChecksumFor = null)
    {
        if (crash.Regions.Count == 0)
            throw new KexecFailureException(KexecFailureKind.NoReservation, "no \"Crash kernel\" region in /proc/iomem", hint: "boot with crashkernel=256M (or more) on the kernel command line");
        PhysicalRange region = crash.Regions[^1];
        ulong totalRam = crash.Iomem.TopLevel.Where(r => r.Name == "System RAM").Aggregate(0UL, (sum, r) => sum + r.Range.Length);
        ulong reserve = CrashControlReserve(totalRam);
        if (region.Length <= reserve)
            throw new KexecFailureException(KexecFailureKind.RegionTooSmall, $"crash region {region} is smaller than the 0x{reserve:x} bytes the kernel needs for its own pages", hint: "raise crashkernel=");
        var allocator = new TopDownAllocator([new PhysicalRange(region.Start + reserve, region.End)]);
        return Build(kernel, initrd, commandLine, allocator, runningBootParams, crash,
            elfcorehdr => E820Map.ForCrashKernel(crash.Iomem, crash.Regions, [elfcorehdr!.Value]), wrongChecksumFor, $"the crash region {region}");
    }

    private static ClassicImage Build(BzImage kernel, ReadOnlyMemory<byte> initrd, string commandLine, TopDownAllocator allocator,
        ReadOnlySpan<byte> runningBootParams, CrashLoadContext? crash, Func<PhysicalRange?, E820Map> mapFor, int? wrongChecksumFor, string where)
    {
        var segments = new List<VerifiedSegment>();

        PhysicalRange kernelRange = Place(allocator, kernel.KernelMemorySize, kernel.Alignment, kernel.MinimumLoadAddress, "the kernel", where);
        segments.Add(new VerifiedSegment("kernel", new KexecSegment(kernel.Kernel, kernelRange.Start, kernelRange.Length)));

        // ramdisk_size is the initrd's real length; only the segment is rounded up to a page.
        PhysicalRange? initrdRange = null;
        if (!initrd.IsEmpty)
        {
            PhysicalRange placed = Place(allocator, BzImage.AlignUp((ulong)initrd.Length, Page), Page, InitrdMinimum, "the initrd", where);
            segments.Add(new VerifiedSegment("initrd", new KexecSegment(initrd, placed.Start, placed.Length)));
            initrdRange = PhysicalRange.FromLength(placed.Start.Value, (ulong)initrd.Length);
        }

        PhysicalRange? elfcorehdr = null;
        if (crash is not null)
        {
            byte[] header = ElfCoreHeader.Build(crash.Dump);
            elfcorehdr = Place(allocator, ElfCoreHeader.MemorySize(header.Length), Page, 0, "the ELF core header", where);
            segments.Add(new VerifiedSegment("elfcorehdr", new KexecSegment(header, elfcorehdr.Value.Start, elfcorehdr.Value.Length)));
            commandLine = $"{commandLine} {ElfCoreHeader.CommandLineArgument(elfcorehdr.Value.Start.Value)}".TrimStart();
        }

        E820Map map = mapFor(elfcorehdr);
        // The segment's size does not depend on its address; build once to size it, again to place it.
        int paramsLength = BootParams.Build(kernel, 0, commandLine, initrdRange, map, runningBootParams).Length;
        PhysicalRange paramsRange = Place(allocator, BzImage.AlignUp((ulong)paramsLength, Page), Page, 0, "boot_params", where);
        byte[] bootParams = BootParams.Build(kernel, paramsRange.Start.Value, commandLine, initrdRange, map, runningBootParams);
        segments.Add(new VerifiedSegment("boot_params", new KexecSegment(bootParams, paramsRange.Start, paramsRange.Length)));

        PhysicalRange purgatoryRange = Place(allocator, Purgatory.MemorySizeFor(segments.Count), Page, 0, "the purgatory", where);
        Purgatory purgatory = Purgatory.Build(purgatoryRange.Start.Value, paramsRange.Start.Value, kernelRange.Start.Value + BzImage.Entry64Offset,
            segments, wrongChecksumFor);
        segments.Add(new VerifiedSegment("purgatory", purgatory.Segment));

        var image = new KexecImage(segments.Select(s => s.Segment).ToList(), purgatory.Entry);
        KexecImageRules.Check(image, crash is null ? null : crash.Regions[^1]);
        return new ClassicImage(image, segments, commandLine, map);
    }

    private static PhysicalRange Place(TopDownAllocator allocator, ulong size, ulong alignment, ulong minimum, string what, string where)
    {
        if (allocator.Allocate(size, alignment, Math.Min(minimum, MaxAddress)) is PhysicalRange r && r.End.Value <= MaxAddress)
            return r;
        string message = $"no room for {what} (0x{size:x} bytes, aligned to 0x{alignment:x}) in {where}";
        throw where.StartsWith("the crash region", StringComparison.Ordinal)
            ? new KexecFailureException(KexecFailureKind.RegionTooSmall, message, hint: "raise crashkernel= or use a smaller initrd")
            : new KexecException(message);
    }

    /// <summary>
    /// Bytes of the crash region a crash load of <paramref name="kernel"/> uses, for `crash estimate`:
    /// kernel (init_size, plus up to one alignment step lost to placement), initrd, ELF core header,
    /// boot_params with command line, purgatory and the control reserve. The crash kernel also
    /// needs runtime memory on top of this; that depends on its initrd's work, not on the loader.
    /// </summary>
    public static ulong EstimateCrashLoad(BzImage kernel, long initrdLength, int cpus, int dumpRanges, ulong totalRam)
    {
        int headerLength = 64 + (cpus + 2 + dumpRanges) * 56;
        return kernel.KernelMemorySize + kernel.Alignment
            + BzImage.AlignUp((ulong)initrdLength, Page)
            + ElfCoreHeader.MemorySize(headerLength)
            + 2 * Page
            + Purgatory.MemorySizeFor(5)
            + CrashControlReserve(totalRam);
    }
}
