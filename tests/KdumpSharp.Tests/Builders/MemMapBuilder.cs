using System.Buffers.Binary;
using KdumpSharp.Filtering;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Builders;

/// <summary>The two page-state eras the filter must tell apart, with VMCOREINFO values from the VM harness's Debian kernels.</summary>
public enum KernelStyle
{
    /// <summary>6.1: PG_slab, page types as cleared bits (buddy = ~0x80), compound order and destructor in page[1].</summary>
    Linux61,

    /// <summary>6.12: page type in the top byte of _mapcount (slab, hugetlb too), folio order in page[1].flags.</summary>
    Linux612,
}

/// <summary>
/// A small machine's mem_map built in code: RAM pfns [0, pages) in one range, mapped linearly at
/// <see cref="DirectMap"/>; a SPARSEMEM_EXTREME mem_section table; struct pages written field by field
/// in the layout of the VM harness's Debian kernels (SIZE(page)=64); and the VMCOREINFO that describes
/// them. Struct pages not set are zero (kept). Pfns below <see cref="FirstFreePfn"/> hold the tables.
/// </summary>
internal sealed class MemMapBuilder
{
    public const ulong DirectMap = 0xffff_8880_0000_0000;
    public const int PageStructSize = 64;
    public const int FlagsOffset = 0, LruOffset = 8, CompoundHeadOffset = 8, MappingOffset = 24, PrivateOffset = 40, MapCountOffset = 48, RefCountOffset = 52;
    public const int CompoundDtorOffset = 16, CompoundOrderOffset = 17;
    public const int SectionStructSize = 32;
    public const ulong RootArray = 0x1000, RootPage = 0x2000, PglistData = 0x3000, NodeDataArray = 0x8000, MemMapBase = 0x10000;

    private readonly ulong _pagesPerSection;

    public MemMapBuilder(KernelStyle style, ulong pages = 4096, int sectionSizeBits = 22)
    {
        Style = style;
        Pages = pages;
        _pagesPerSection = 1UL << (sectionSizeBits - 12);
        Physical = new SparsePhysicalMemory(PhysicalRange.FromLength(0, pages * 4096));
        Virtual = new LinearVirtualMemory(Physical, DirectMap, 0, pages * 4096);
        FirstFreePfn = (MemMapBase + pages * PageStructSize + 4095) / 4096;

        Vmcoreinfo
            .Set("OSRELEASE", style == KernelStyle.Linux61 ? "6.1.0-56-amd64" : "6.12.117+deb12-amd64")
            .Set("PAGESIZE", "4096")
            .Symbol("mem_section", DirectMap + RootArray)
            .Length("mem_section", (1L << (46 - sectionSizeBits)) / (4096 / SectionStructSize)) // NR_SECTION_ROOTS: SPARSEMEM_EXTREME
            .Size("mem_section", SectionStructSize)
            .Offset("mem_section.section_mem_map", 0)
            .Number("SECTION_SIZE_BITS", sectionSizeBits)
            .Number("MAX_PHYSMEM_BITS", 46)
            .Size("page", PageStructSize)
            .Offset("page.flags", FlagsOffset)
            .Offset("page._refcount", RefCountOffset)
            .Offset("page.mapping", MappingOffset)
            .Offset("page.lru", LruOffset)
            .Offset("page._mapcount", MapCountOffset)
            .Offset("page.private", PrivateOffset)
            .Offset("page.compound_head", CompoundHeadOffset)
            .Length("zone.free_area", 11);
        if (style == KernelStyle.Linux61)
            Vmcoreinfo
                .Offset("page.compound_dtor", CompoundDtorOffset)
                .Offset("page.compound_order", CompoundOrderOffset)
                .Number("PG_lru", 4).Number("PG_private", 13).Number("PG_swapcache", 10).Number("PG_swapbacked", 19)
                .Number("PG_slab", 9).Number("PG_hwpoison", 23).Number("PG_head_mask", 1 << 16)
                .Number("PAGE_BUDDY_MAPCOUNT_VALUE", ~0x80).Number("HUGETLB_PAGE_DTOR", 2).Number("PAGE_OFFLINE_MAPCOUNT_VALUE", ~0x100);
        else
            Vmcoreinfo
                .Number("PG_lru", 5).Number("PG_private", 14).Number("PG_swapcache", 10).Number("PG_swapbacked", 17)
                .Number("PAGE_SLAB_MAPCOUNT_VALUE", unchecked((int)0xf500_0000)).Number("PG_hwpoison", 20).Number("PG_head_mask", 1 << 6)
                .Number("PAGE_BUDDY_MAPCOUNT_VALUE", unchecked((int)0xf000_0000)).Number("PAGE_HUGETLB_MAPCOUNT_VALUE", unchecked((int)0xf400_0000))
                .Number("PAGE_OFFLINE_MAPCOUNT_VALUE", unchecked((int)0xf100_0000));

        // SPARSEMEM_EXTREME: root array -> one page of 128 mem_section structures. Flag bits 0-3
        // (present, has mem_map, online, early) set as the kernel sets them; the map is biased.
        WriteUInt64(RootArray, DirectMap + RootPage);
        for (ulong section = 0; section * _pagesPerSection < pages; section++)
            SetSectionMemMap(section, DirectMap + MemMapBase + section * _pagesPerSection * PageStructSize);
    }

    public KernelStyle Style { get; }
    public ulong Pages { get; }
    public ulong FirstFreePfn { get; }
    public SparsePhysicalMemory Physical { get; }
    public LinearVirtualMemory Virtual { get; }
    public VmcoreinfoBuilder Vmcoreinfo { get; } = new();

    public int LruBit => Style == KernelStyle.Linux61 ? 4 : 5;
    public int PrivateBit => Style == KernelStyle.Linux61 ? 13 : 14;
    public int SwapCacheBit => 10;
    public int SwapBackedBit => Style == KernelStyle.Linux61 ? 19 : 17;
    public int HwPoisonBit => Style == KernelStyle.Linux61 ? 23 : 20;
    public ulong HeadFlag => Style == KernelStyle.Linux61 ? 1UL << 16 : 1UL << 6;

    public PageClassifier Classifier() => PageClassifier.Create(Virtual, Vmcoreinfo.Build());

    /// <summary>Sets section <paramref name="section"/>'s section_mem_map (0 for a section without memory).</summary>
    public void SetSectionMemMap(ulong section, ulong memMapAddress, ulong flags = 0xf)
    {
        ulong coded = memMapAddress == 0 ? 0 : unchecked(memMapAddress - section * _pagesPerSection * PageStructSize) | flags;
        WriteUInt64(RootPage + section * SectionStructSize, coded);
    }

    public ulong StructPageAddress(ulong pfn) => DirectMap + MemMapBase + pfn * PageStructSize;

    public ulong StructPagePhysical(ulong pfn) => MemMapBase + pfn * PageStructSize;

    /// <summary>Writes the fields of one struct page.</summary>
    public void SetPage(ulong pfn, ulong flags = 0, ulong mapping = 0, int mapCount = -1, ulong privateData = 0, ulong compoundHead = 0, int refCount = 1)
    {
        ulong at = StructPagePhysical(pfn);
        WriteUInt64(at + FlagsOffset, flags);
        WriteUInt64(at + CompoundHeadOffset, compoundHead);
        WriteUInt64(at + MappingOffset, mapping);
        WriteUInt64(at + PrivateOffset, privateData);
        WriteUInt32(at + MapCountOffset, unchecked((uint)mapCount));
        WriteUInt32(at + RefCountOffset, unchecked((uint)refCount));
    }

    public void Buddy(ulong pfn, int order) => SetPage(pfn, mapCount: BuddyValue, privateData: (ulong)order, refCount: 0);

    public int BuddyValue => Style == KernelStyle.Linux61 ? ~0x80 : unchecked((int)0xf000_0000);
    public int OfflineValue => Style == KernelStyle.Linux61 ? ~0x100 : unchecked((int)0xf100_0000);

    /// <summary>An order-0 slab page; <paramref name="mapping"/> is what overlaps page.mapping (since 6.2 an int count, possibly odd).</summary>
    public void Slab(ulong pfn, ulong mapping = 0xffff_8880_0123_4500) =>
        SetPage(pfn, flags: Style == KernelStyle.Linux61 ? 1UL << 9 : 0, mapping: mapping,
            mapCount: Style == KernelStyle.Linux61 ? -1 : unchecked((int)0xf500_0000));

    public void Anon(ulong pfn, ulong flags = 0) => SetPage(pfn, flags: flags | Bit(LruBit) | Bit(SwapBackedBit), mapping: 0xffff_8880_0200_0001, mapCount: 0);

    public void FileCache(ulong pfn, bool privateData = false) =>
        SetPage(pfn, flags: Bit(LruBit) | (privateData ? Bit(PrivateBit) : 0), mapping: 0xffff_8880_0300_0000, mapCount: 0);

    public void Offline(ulong pfn) => SetPage(pfn, mapCount: OfflineValue);

    /// <summary>
    /// A compound page (folio) of 2^order pages at <paramref name="head"/>: the head with
    /// <paramref name="headFlags"/> | PG_head, tails pointing back to it, and the order (and for
    /// hugetlb the era's mark) where this kernel keeps it.
    /// </summary>
    public void Compound(ulong head, int order, ulong headFlags = 0, ulong mapping = 0, int headMapCount = -1, bool hugetlb = false)
    {
        if (hugetlb && Style == KernelStyle.Linux612)
            headMapCount = unchecked((int)0xf400_0000);
        SetPage(head, flags: headFlags | HeadFlag, mapping: mapping, mapCount: headMapCount);
        for (ulong i = 1; i < 1UL << order; i++)
            SetPage(head + i, compoundHead: StructPageAddress(head) | 1, mapCount: -1, refCount: 0);
        ulong second = StructPagePhysical(head + 1);
        if (Style == KernelStyle.Linux61)
        {
            Physical.Write(second + CompoundOrderOffset, [(byte)order]);
            Physical.Write(second + CompoundDtorOffset, [(byte)(hugetlb ? 2 : 1)]);
        }
        else
        {
            // folio._flags_1: the order in the low byte, page[1]'s own flags above it.
            WriteUInt64(second + FlagsOffset, (ulong)order | 0x4000);
        }
    }

    public static ulong Bit(int bit) => 1UL << bit;

    public void WriteUInt64(ulong physical, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Physical.Write(physical, b);
    }

    public void WriteUInt32(ulong physical, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Physical.Write(physical, b);
    }

    /// <summary>
    /// node_data[0] → a pglist_data with one zone whose free lists hold <paramref name="blocks"/>
    /// (linked through page.lru), with nr_free and vm_stat[NR_FREE_PAGES] set to match, and the
    /// VMCOREINFO keys that describe them (sizes of the Debian kernels where they fit the test's memory).
    /// </summary>
    public ulong AddZone(IEnumerable<(ulong Pfn, int Order, int MigrateType)> blocks, long freePagesCounterDelta = 0)
    {
        const int zoneSize = 1536, freeArea = 256, freeAreaSize = 88, listHead = 16, vmStat = 1344, spanned = 144, nrZones = 3100;
        Vmcoreinfo
            .Symbol("node_data", DirectMap + NodeDataArray).Length("node_data", 4)
            .Size("pglist_data", 3200).Offset("pglist_data.node_zones", 0).Offset("pglist_data.nr_zones", nrZones)
            .Size("zone", zoneSize).Offset("zone.free_area", freeArea).Offset("zone.vm_stat", vmStat).Offset("zone.spanned_pages", spanned)
            .Size("free_area", freeAreaSize).Offset("free_area.free_list", 0).Length("free_area.free_list", 5)
            .Size("list_head", listHead).Offset("list_head.next", 0).Offset("list_head.prev", 8)
            .Number("NR_FREE_PAGES", 0);
        WriteUInt64(NodeDataArray, DirectMap + PglistData);
        WriteUInt32(PglistData + nrZones, 1);
        ulong zone = PglistData;
        WriteUInt64(zone + spanned, Pages);
        var lists = new Dictionary<(int, int), List<ulong>>();
        long pages = 0;
        foreach ((ulong pfn, int order, int type) in blocks)
        {
            if (!lists.TryGetValue((order, type), out List<ulong>? list))
                lists[(order, type)] = list = [];
            list.Add(pfn);
            pages += 1L << order;
        }
        for (int order = 0; order < 11; order++)
        {
            ulong area = zone + freeArea + (ulong)(order * freeAreaSize);
            ulong count = 0;
            for (int type = 0; type < 5; type++)
            {
                ulong head = area + (ulong)(type * listHead);
                List<ulong> pfns = lists.GetValueOrDefault((order, type)) ?? [];
                ulong previous = DirectMap + head;
                foreach (ulong pfn in pfns)
                {
                    ulong entry = StructPageAddress(pfn) + LruOffset;
                    WriteUInt64(previous - DirectMap, entry);
                    previous = entry;
                }
                WriteUInt64(previous - DirectMap, DirectMap + head);
                count += (ulong)pfns.Count;
            }
            WriteUInt64(area + 5 * listHead, count);
        }
        WriteUInt64(zone + vmStat, (ulong)(pages + freePagesCounterDelta));
        return zone;
    }
}
