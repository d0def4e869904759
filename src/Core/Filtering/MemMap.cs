using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>One memory section's struct page array: pfns [Start, Start + PageCount) have their struct
/// pages at <see cref="MemMapAddress"/> onwards, SIZE(page) bytes apart.</summary>
public readonly record struct MemMapSection(ulong Number, PageFrameNumber Start, ulong PageCount, ulong MemMapAddress)
{
    public PageFrameNumber End => Start + PageCount;
}

/// <summary>
/// The crashed kernel's mem_map under SPARSEMEM (include/linux/mmzone.h, mm/sparse.c): where the
/// struct page of every page frame lies, and reading them in batches.
/// <para>
/// Sections come from SYMBOL(mem_section): under SPARSEMEM_EXTREME (LENGTH(mem_section) equals
/// NR_MEM_SECTIONS / SECTIONS_PER_ROOT, or is absent) it is the root array, LENGTH(mem_section)
/// pointers each to PAGE_SIZE / SIZE(mem_section) structures; otherwise it is the array of structures
/// itself. A section has a mem_map when its section_mem_map has SECTION_MARKED_PRESENT and
/// SECTION_HAS_MEM_MAP (bits 0 and 1); the low 5 bits are flags (SECTION_MAP_LAST_BIT), and the rest
/// is the array's address biased by minus the section's first pfn times SIZE(page)
/// (sparse_encode_mem_map). With no SYMBOL(mem_section), SYMBOL(vmemmap) (SPARSEMEM_VMEMMAP,
/// exported since 6.x) places pfn n's struct page at vmemmap + n * SIZE(page).
/// </para>
/// Only sections that cover the dump's RAM are read; the table costs 64 bytes per section of RAM (two
/// 32-byte entries: one in pfn order, one in address order for <see cref="TryGetFrame"/>).
/// </summary>
public sealed class MemMap
{
    private const ulong SectionMarkedPresent = 1UL << 0;
    private const ulong SectionHasMemMap = 1UL << 1;
    private const ulong SectionFlagsMask = (1UL << 5) - 1;

    private readonly VirtualMemory _memory;
    private readonly MemMapSection[] _sections;
    private readonly MemMapSection[] _byAddress;
    private readonly byte[] _scratch = new byte[ScratchPages * PageFrameNumber.PageSize];
    private readonly PageState[] _scratchStates = new PageState[ScratchPages];

    private MemMap(VirtualMemory memory, StructPageLayout layout, ulong pagesPerSection, MemMapSection[] sections, string source)
    {
        _memory = memory;
        Layout = layout;
        PagesPerSection = pagesPerSection;
        _sections = sections;
        _byAddress = ByAddress(sections);
        Source = source;
    }

    /// <summary>
    /// The sections ordered by array address; equal addresses (only in corrupt input) keep pfn order.
    /// A plain array sort with a Comparison: kds-capture's precompiled image has code for it, where a
    /// LINQ OrderBy over this struct is JIT-compiled at every start.
    /// </summary>
    private static MemMapSection[] ByAddress(MemMapSection[] sections)
    {
        var byAddress = (MemMapSection[])sections.Clone();
        Array.Sort(byAddress, static (a, b) => a.MemMapAddress != b.MemMapAddress ? a.MemMapAddress.CompareTo(b.MemMapAddress) : a.Number.CompareTo(b.Number));
        return byAddress;
    }

    public StructPageLayout Layout { get; }

    /// <summary>Page frames per memory section: 2^(SECTION_SIZE_BITS - PAGE_SHIFT).</summary>
    public ulong PagesPerSection { get; }

    /// <summary>The sections with a mem_map that overlap the dump's RAM, in pfn order.</summary>
    public IReadOnlyList<MemMapSection> Sections => _sections;

    /// <summary>"mem_section" or "vmemmap": which VMCOREINFO symbol located the arrays.</summary>
    public string Source { get; }

    /// <summary>
    /// Locates the struct page arrays for every page of <paramref name="memory"/>'s dump. Throws
    /// <see cref="KernelDataException"/> when VMCOREINFO lacks the keys, or the section table cannot be
    /// read or is impossible.
    /// </summary>
    public static MemMap Open(VirtualMemory memory, Vmcoreinfo vmcoreinfo, DumpLimits? limits = null)
    {
        limits ??= DumpLimits.Default;
        StructPageLayout layout = StructPageLayout.FromVmcoreinfo(vmcoreinfo);
        ulong endFrame = memory.Physical.EndFrame.Value;
        if (endFrame > limits.MaxPageFrames)
            throw new KernelDataException($"the dump's memory ends at pfn 0x{endFrame:x}, beyond the limit of 0x{limits.MaxPageFrames:x} page frames");

        long sectionBits = vmcoreinfo.Number("SECTION_SIZE_BITS") ?? -1;
        if (vmcoreinfo.Symbol("mem_section") is ulong memSection)
        {
            if (sectionBits < PageFrameNumber.PageShift || sectionBits >= 48)
                throw new KernelDataException($"VMCOREINFO NUMBER(SECTION_SIZE_BITS)={sectionBits} is not a section size");
            ulong perSection = 1UL << (int)(sectionBits - PageFrameNumber.PageShift);
            return new MemMap(memory, layout, perSection, ReadSections(memory, vmcoreinfo, layout, memSection, (int)sectionBits, endFrame), "mem_section");
        }
        if (vmcoreinfo.Symbol("vmemmap") is ulong vmemmap)
        {
            // Without a section table, cut the RAM into chunks of a section (or 128 MiB) so reads stay batched.
            ulong perSection = sectionBits >= PageFrameNumber.PageShift && sectionBits < 48 ? 1UL << (int)(sectionBits - PageFrameNumber.PageShift) : 1UL << 15;
            var sections = new List<MemMapSection>();
            foreach (ulong number in SectionsOfRam(memory.Physical, perSection))
            {
                ulong start = number * perSection;
                sections.Add(new MemMapSection(number, new PageFrameNumber(start), perSection, vmemmap + start * (ulong)layout.Size));
            }
            return new MemMap(memory, layout, perSection, [.. sections], "vmemmap");
        }
        throw new KernelDataException("the dump's VMCOREINFO has neither SYMBOL(mem_section) nor SYMBOL(vmemmap): only SPARSEMEM kernels are supported");
    }

    /// <summary>The section holding <paramref name="pfn"/>, if it has a mem_map.</summary>
    public bool TryGetSection(PageFrameNumber pfn, out MemMapSection section)
    {
        int lo = 0, hi = _sections.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_sections[mid].End <= pfn)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < _sections.Length && _sections[lo].Start <= pfn)
        {
            section = _sections[lo];
            return true;
        }
        section = default;
        return false;
    }

    /// <summary>The address of <paramref name="pfn"/>'s struct page.</summary>
    public bool TryGetStructPageAddress(PageFrameNumber pfn, out ulong address)
    {
        if (TryGetSection(pfn, out MemMapSection s))
        {
            address = s.MemMapAddress + (pfn.Value - s.Start.Value) * (ulong)Layout.Size;
            return true;
        }
        address = 0;
        return false;
    }

    /// <summary>The page frame whose struct page starts at <paramref name="structPageAddress"/> (the inverse of
    /// <see cref="TryGetStructPageAddress"/>; false for an address inside no array or not at a struct page's start).</summary>
    public bool TryGetFrame(ulong structPageAddress, out PageFrameNumber pfn)
    {
        int lo = 0, hi = _byAddress.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            MemMapSection s = _byAddress[mid];
            if (s.MemMapAddress + s.PageCount * (ulong)Layout.Size <= structPageAddress)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < _byAddress.Length && _byAddress[lo].MemMapAddress <= structPageAddress)
        {
            MemMapSection s = _byAddress[lo];
            ulong offset = structPageAddress - s.MemMapAddress;
            if (offset % (ulong)Layout.Size == 0)
            {
                pfn = s.Start + offset / (ulong)Layout.Size;
                return true;
            }
        }
        pfn = default;
        return false;
    }

    /// <summary>
    /// Copies the struct pages of pfns [<paramref name="first"/>, <paramref name="first"/> + count) into
    /// <paramref name="destination"/> (count × SIZE(page) bytes) and sets <paramref name="readable"/>[i]
    /// to whether pfn first + i's struct page was wholly in the dump. The pfns must lie in one section
    /// with a mem_map. Faults are not thrown: they make pages unreadable. Returns how many were readable.
    /// A physically contiguous stretch of mem_map is one read: x86-64 maps a whole section's vmemmap with
    /// 2 MiB pages when the CPU has PSE (arch/x86/mm/init_64.c, vmemmap_populate), so a 32 KiB block is
    /// one pread, not eight.
    /// </summary>
    public int ReadStructPages(PageFrameNumber first, int count, Span<byte> destination, Span<bool> readable)
    {
        if (count <= 0)
            return 0;
        if (!TryGetSection(first, out MemMapSection section) || first.Value + (ulong)count > section.End.Value)
            throw new ArgumentOutOfRangeException(nameof(first), $"pfns 0x{first.Value:x}+{count} do not lie in one section with a mem_map");
        int size = Layout.Size;
        Span<byte> bytes = destination[..(count * size)];
        readable = readable[..count];
        // A loop, not Span.Fill: Fill is vectorized with Vector<T>, whose width is known only at run time,
        // so kds-capture JIT-compiled it at every start.
        for (int i = 0; i < readable.Length; i++)
            readable[i] = true;
        ulong start = section.MemMapAddress + (first.Value - section.Start.Value) * (ulong)size;
        int done = 0;
        // Each iteration moves at least to the end of the mem_map page it starts in.
        while (done < bytes.Length)
        {
            ulong va = start + (ulong)done;
            int inPage = (int)(va & (PageFrameNumber.PageSize - 1));
            int chunk = Math.Min(bytes.Length - done, PageFrameNumber.PageSize - inPage);
            if (!TryTranslate(va, out PhysicalAddress pa, out ulong contiguous))
            {
                MarkUnreadable(readable, done, chunk, size);
                done += chunk;
                continue;
            }
            chunk = (int)Math.Min((ulong)Math.Min(bytes.Length - done, ScratchPages * PageFrameNumber.PageSize - inPage), contiguous);
            int pages = (inPage + chunk + PageFrameNumber.PageSize - 1) / PageFrameNumber.PageSize;
            Span<PageState> states = _scratchStates.AsSpan(0, pages);
            if (inPage == 0 && chunk % PageFrameNumber.PageSize == 0)
            {
                // Whole pages (every classifier block of an aligned mem_map): read in place, sparing a second
                // pass over the 64 bytes per page of RAM that mem_map is.
                _memory.Physical.ReadPages(pa.Frame, pages, bytes.Slice(done, chunk), states);
            }
            else
            {
                _memory.Physical.ReadPages(pa.Frame, pages, _scratch.AsSpan(0, pages * PageFrameNumber.PageSize), states);
                _scratch.AsSpan(inPage, chunk).CopyTo(bytes.Slice(done));
            }
            for (int p = 0; p < pages; p++)
            {
                if (states[p] == PageState.Present)
                    continue;
                // The part of this chunk that page p held.
                int from = Math.Max(0, p * PageFrameNumber.PageSize - inPage);
                int to = Math.Min(chunk, (p + 1) * PageFrameNumber.PageSize - inPage);
                MarkUnreadable(readable, done + from, to - from, size);
            }
            done += chunk;
        }
        int ok = 0;
        foreach (bool r in readable)
            ok += r ? 1 : 0;
        return ok;
    }

    /// <summary>Mem_map pages read at once at most: one classifier block (512 × 64 bytes) plus the page a misaligned start spills into.</summary>
    private const int ScratchPages = 9;

    /// <summary>Marks the struct pages that overlap bytes [<paramref name="offset"/>, + <paramref name="length"/>) of the copy unreadable.</summary>
    private static void MarkUnreadable(Span<bool> readable, int offset, int length, int size)
    {
        for (int i = offset / size; i <= (offset + length - 1) / size; i++)
            readable[i] = false;
    }

    /// <summary>One struct page, or null when it is not in the dump.</summary>
    public StructPage? ReadStructPage(PageFrameNumber pfn)
    {
        if (!TryGetSection(pfn, out _))
            return null;
        Span<byte> bytes = stackalloc byte[Layout.Size];
        Span<bool> readable = stackalloc bool[1];
        return ReadStructPages(pfn, 1, bytes, readable) == 1 ? Layout.Read(bytes) : null;
    }

    private bool TryTranslate(ulong va, out PhysicalAddress pa, out ulong contiguous)
    {
        try
        {
            return _memory.TryTranslate(va, out pa, out contiguous);
        }
        catch (MemoryFaultException)
        {
            pa = default;
            contiguous = 0;
            return false; // a page table of the vmemmap area is itself missing
        }
    }

    /// <param name="sectionShift">SECTION_SIZE_BITS, checked by the caller. Taken as is, not recomputed from the
    /// pages per section with BitOperations.Log2: code that may use LZCNT is not precompiled for x64, and this
    /// 800-byte method was JIT-compiled at every capture.</param>
    private static MemMapSection[] ReadSections(VirtualMemory memory, Vmcoreinfo vmcoreinfo, StructPageLayout layout, ulong symbol,
        int sectionShift, ulong endFrame)
    {
        ulong perSection = 1UL << (sectionShift - PageFrameNumber.PageShift);
        StructLayout memSection = StructLayout.Of(vmcoreinfo, "mem_section");
        int mapOffset = memSection.Field("section_mem_map", sizeof(ulong));
        long physmemBits = vmcoreinfo.Number("MAX_PHYSMEM_BITS") ?? -1;
        if (physmemBits < sectionShift || physmemBits > 64)
            throw new KernelDataException($"VMCOREINFO NUMBER(MAX_PHYSMEM_BITS)={physmemBits} is not a physical address width above the section size");
        ulong totalSections = 1UL << (int)(physmemBits - sectionShift);
        ulong perRootExtreme = (ulong)(PageFrameNumber.PageSize / memSection.Size);
        ulong? roots = vmcoreinfo.Length("mem_section");
        bool extreme = roots is null || perRootExtreme > 0 && roots == (totalSections + perRootExtreme - 1) / perRootExtreme;
        ulong perRoot = extreme ? Math.Max(perRootExtreme, 1) : 1;
        ulong rootCount = roots ?? (totalSections + perRoot - 1) / perRoot;

        var sections = new List<MemMapSection>();
        byte[] root = new byte[checked((int)perRoot * memSection.Size)];
        ulong currentRoot = ulong.MaxValue;
        bool rootPresent = false;
        foreach (ulong number in SectionsOfRam(memory.Physical, perSection))
        {
            if (number >= totalSections)
                throw new KernelDataException($"the dump's RAM reaches section {number}, beyond the {totalSections} sections MAX_PHYSMEM_BITS allows");
            ulong rootIndex = number / perRoot;
            if (rootIndex >= rootCount)
                throw new KernelDataException($"section {number} needs mem_section root {rootIndex}, beyond LENGTH(mem_section)={rootCount}");
            if (rootIndex != currentRoot)
            {
                currentRoot = rootIndex;
                ulong rootAddress = extreme ? KernelStructReads.ReadUInt64(memory, symbol + rootIndex * sizeof(ulong), $"mem_section root {rootIndex}") : symbol;
                rootPresent = rootAddress != 0;
                if (rootPresent)
                    KernelStructReads.ReadBytes(memory, extreme ? rootAddress : symbol + number / perRoot * perRoot * (ulong)memSection.Size, root,
                        $"the mem_section array of root {rootIndex}");
            }
            if (!rootPresent)
                continue;
            ulong coded = BinaryPrimitives.ReadUInt64LittleEndian(root.AsSpan((int)(number % perRoot) * memSection.Size + mapOffset));
            if ((coded & (SectionMarkedPresent | SectionHasMemMap)) != (SectionMarkedPresent | SectionHasMemMap))
                continue;
            ulong start = number * perSection;
            // sparse_encode_mem_map stored the array's address minus start * SIZE(page); undo it (wrapping, as the kernel's pointer arithmetic does).
            ulong memMap = unchecked((coded & ~SectionFlagsMask) + start * (ulong)layout.Size);
            sections.Add(new MemMapSection(number, new PageFrameNumber(start), perSection, memMap));
        }
        return [.. sections];
    }

    /// <summary>Numbers of the sections that overlap the dump's RAM ranges, ascending, each once.</summary>
    private static IEnumerable<ulong> SectionsOfRam(PhysicalMemory physical, ulong perSection)
    {
        ulong next = 0;
        foreach (PhysicalRange range in physical.Ranges)
        {
            if (range.IsEmpty)
                continue;
            ulong first = Math.Max(next, range.Start.Frame.Value / perSection);
            ulong last = (range.End.Value - 1) >> PageFrameNumber.PageShift;
            for (ulong s = first; s <= last / perSection; s++)
                yield return s;
            next = last / perSection + 1;
        }
    }

}
