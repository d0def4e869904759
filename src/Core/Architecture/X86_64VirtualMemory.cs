using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Architecture;

/// <summary>
/// The x86_64 kernel address space of a dump, translated through the crashed kernel's own page
/// tables (arch/x86/include/asm/pgtable_types.h): 4 levels, or 5 when NUMBER(pgtable_l5_enabled)=1;
/// 1 GiB and 2 MiB pages (PSE); the SME encryption bit (NUMBER(sme_mask)) cleared from every entry.
/// The root is init_top_pgt, found by its kernel-image address, which maps linearly:
/// pa = va - __START_KERNEL_map + phys_base (arch/x86/include/asm/page_64.h __phys_addr_symbol).
/// </summary>
public sealed class X86_64VirtualMemory : VirtualMemory
{
    /// <summary>Kernel image map base (arch/x86/include/asm/page_64_types.h).</summary>
    public const ulong StartKernelMap = 0xffffffff80000000;

    /// <summary>Lowest direct-map base with 4- and 5-level paging before KASLR moves it (Documentation/arch/x86/x86_64/mm.rst).</summary>
    private const ulong DirectMapFloorL4 = 0xffff888000000000;
    private const ulong DirectMapFloorL5 = 0xff11000000000000;

    private const ulong Present = 1UL << 0;
    private const ulong PageSizeBit = 1UL << 7;
    private const ulong AddressMask = 0x000f_ffff_ffff_f000;
    private const int TlbCapacity = 8192;
    private const int TableCacheCapacity = 256;

    /// <summary>Page-table pages a symbol-free search may read before giving up: a corrupt table
    /// whose every entry is "present" would otherwise take 512^4 reads.</summary>
    private const int SearchBudget = 20_000;

    private readonly ulong _root;
    private readonly ulong _entryMask;
    private readonly Dictionary<ulong, ulong> _tlb = new();
    private readonly Dictionary<ulong, ulong[]> _tables = new();
    private int _searchBudget;

    public X86_64VirtualMemory(PhysicalMemory physical, Vmcoreinfo vmcoreinfo) : base(physical)
    {
        PhysBase = (ulong)(vmcoreinfo.Number("phys_base") ?? 0);
        ulong rootSymbol = vmcoreinfo.Symbol("init_top_pgt") ?? vmcoreinfo.Symbol("init_level4_pgt") ?? vmcoreinfo.Symbol("swapper_pg_dir")
            ?? throw new KernelDataException("the dump's VMCOREINFO has no SYMBOL(init_top_pgt) or SYMBOL(swapper_pg_dir): cannot find the kernel page tables");
        if (rootSymbol < StartKernelMap)
            throw new KernelDataException($"SYMBOL(init_top_pgt)=0x{rootSymbol:x} is not a kernel-image address");
        _root = rootSymbol - StartKernelMap + PhysBase;
        FiveLevel = vmcoreinfo.Number("pgtable_l5_enabled") == 1;
        _entryMask = AddressMask & ~(ulong)(vmcoreinfo.Number("sme_mask") ?? 0);
    }

    /// <summary>Physical address the kernel image was loaded at minus its link address (NUMBER(phys_base)).</summary>
    public ulong PhysBase { get; }

    public bool FiveLevel { get; }

    /// <summary>Physical address of the top-level page table (init_top_pgt).</summary>
    public PhysicalAddress PageTableRoot => new(_root);

    public override bool TryTranslate(ulong address, out PhysicalAddress physicalAddress, out ulong contiguousBytes)
    {
        ulong vpage = address & ~0xfffUL;
        ulong offset = address & 0xfff;
        if (_tlb.TryGetValue(vpage, out ulong ppage))
        {
            physicalAddress = new PhysicalAddress(ppage + offset);
            contiguousBytes = PageFrameNumber.PageSize - offset;
            return true;
        }
        if (!Walk(address, out ulong pa, out ulong mappingSize))
        {
            physicalAddress = default;
            contiguousBytes = 0;
            return false;
        }
        if (_tlb.Count >= TlbCapacity)
            _tlb.Clear();
        _tlb[vpage] = pa - offset;
        physicalAddress = new PhysicalAddress(pa);
        contiguousBytes = mappingSize - (address & (mappingSize - 1));
        return true;
    }

    /// <summary>
    /// Finds the direct map's base (page_offset_base, randomized by CONFIG_RANDOMIZE_MEMORY in
    /// arch/x86/mm/kaslr.c): the lowest mapped address at or above the region's floor maps the
    /// lowest RAM, so base = that address minus its physical address. Returns null if nothing
    /// there is mapped. Needs no symbols, which kdump-compressed dumps (no p_vaddr) require.
    /// </summary>
    public ulong? FindDirectMapBase()
    {
        ulong floor = FiveLevel ? DirectMapFloorL5 : DirectMapFloorL4;
        ulong? lowest = LowestMapped(floor, StartKernelMap);
        if (lowest is not ulong va || !Walk(va, out ulong pa, out _))
            return null;
        return va - pa;
    }

    /// <summary>
    /// The extent of the kernel image mapping [start, end): the first and last mapped pages in the
    /// kernel-image region. cleanup_highmap() (arch/x86/mm/init_64.c) unmaps what lies outside
    /// _text.._end (rounded to 2 MiB), so this is the image's own span.
    /// </summary>
    public (ulong Start, ulong End)? FindKernelImageMapping(ulong imageSize)
    {
        ulong limit = StartKernelMap + Math.Min(imageSize, 1UL << 30);
        ulong? start = LowestMapped(StartKernelMap, limit);
        if (start is not ulong s)
            return null;
        ulong end = s;
        while (end < limit && Walk(end, out _, out ulong size))
            end = (end & ~(size - 1)) + size;
        return (s, end);
    }

    private ulong? LowestMapped(ulong from, ulong to)
    {
        _searchBudget = SearchBudget;
        return Lowest(_root, FiveLevel ? 5 : 4, from, to);
    }

    /// <summary>Depth-first search for the lowest mapped address in [from, to) below one table.</summary>
    private ulong? Lowest(ulong table, int level, ulong from, ulong to)
    {
        int shift = 12 + 9 * (level - 1);
        int firstIndex = (int)((from >> shift) & 511);
        int lastIndex = (int)(((to - 1) >> shift) & 511);
        ulong regionBase = SignExtend((from >> (shift + 9)) << (shift + 9));
        for (int i = firstIndex; i <= lastIndex; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & Present) == 0)
                continue;
            ulong entryBase = regionBase + ((ulong)i << shift);
            ulong lo = Math.Max(from, entryBase);
            if (level == 1 || (level <= 3 && (entry & PageSizeBit) != 0))
                return lo;
            ulong hi = Math.Min(to, entryBase + (1UL << shift));
            if (--_searchBudget < 0)
                return null;
            if (Lowest(entry & _entryMask, level - 1, lo, hi) is ulong found)
                return found;
        }
        return null;
    }

    private bool Walk(ulong address, out ulong physical, out ulong mappingSize)
    {
        physical = 0;
        mappingSize = 0;
        if (!IsCanonical(address))
            return false;
        ulong table = _root;
        for (int level = FiveLevel ? 5 : 4; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entry = ReadEntry(table, (int)((address >> shift) & 511));
            if ((entry & Present) == 0)
                return false;
            bool leaf = level == 1 || (level <= 3 && (entry & PageSizeBit) != 0);
            if (leaf)
            {
                mappingSize = 1UL << shift;
                // In a huge-page entry bit 12 is PAT, not address; mask to the page's alignment.
                ulong frame = entry & _entryMask & ~(mappingSize - 1);
                physical = frame + (address & (mappingSize - 1));
                return true;
            }
            table = entry & _entryMask;
        }
        return false;
    }

    /// <summary>Reads a page-table entry; whole table pages are cached because every walk starts at the same few.</summary>
    private ulong ReadEntry(ulong table, int index)
    {
        if (!_tables.TryGetValue(table, out ulong[]? entries))
        {
            byte[] page = new byte[PageFrameNumber.PageSize];
            Physical.Read(new PhysicalAddress(table & ~0xfffUL), page);
            entries = new ulong[512];
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(page).CopyTo(entries);
            if (_tables.Count >= TableCacheCapacity)
                _tables.Clear();
            _tables[table] = entries;
        }
        return entries[index];
    }

    private bool IsCanonical(ulong address)
    {
        int bits = FiveLevel ? 57 : 48;
        ulong top = address >> (bits - 1);
        return top == 0 || top == (ulong.MaxValue >> (bits - 1));
    }

    private ulong SignExtend(ulong address)
    {
        int bits = FiveLevel ? 57 : 48;
        return (address & (1UL << (bits - 1))) != 0 ? address | ~((1UL << bits) - 1) : address;
    }
}
