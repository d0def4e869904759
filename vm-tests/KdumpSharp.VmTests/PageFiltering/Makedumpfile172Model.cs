using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.VmTests.PageFiltering;

/// <summary>
/// What Debian's makedumpfile 1.7.2 drops at <c>-d 31</c>, apart from zero pages: its
/// __exclude_unnecessary_pages (makedumpfile.c at tag v1.7.2) restated over the same struct pages our
/// classifier reads, so a difference between our choice and the file makedumpfile wrote can be put
/// down to a named rule. Its quirks are kept on purpose: page types compared with ==, PG_slab tested
/// as <c>1UL &lt;&lt; NUMBER(PG_slab)</c> even when the kernel exports none (the shift count -1 wraps to
/// bit 63 on x86_64), no slab test before the anonymous test, the compound order read only from
/// OFFSET(page.compound_order), only a destructor id for hugetlb, tails skipped, and a head's range
/// dropped without looking at the pages in it.
/// </summary>
internal sealed class Makedumpfile172Model
{
    private const int PgmmCached = 512;

    public required bool[] Excluded { get; init; }
    public required Dictionary<PageClass, long> Counters { get; init; }

    public static Makedumpfile172Model Run(PhysicalMemory physical, Vmcoreinfo info, MemMap memMap)
    {
        ulong maxMapnr = physical.EndFrame.Value;
        var excluded = new bool[maxMapnr];
        var counters = new Dictionary<PageClass, long>();
        StructPageLayout l = memMap.Layout;
        int size = l.Size;
        long Number(string name) => info.Number(name) ?? -1; // NOT_FOUND_NUMBER
        bool TestBit(long nr, ulong flags) => ((uint)(1 << (int)(nr & 0x1f)) & flags) != 0 || (nr & 0x1f) == 31 && (flags >> 31) != 0;
        bool SlabBit(ulong flags) => (flags & (1UL << (int)(Number("PG_slab") & 63))) != 0;
        int? orderOffset = info.Offset("page.compound_order") is ulong o ? (int)o : null;
        int? dtorOffset = info.Offset("page.compound_dtor") is ulong d ? (int)d : null;
        long freeAreaLength = info.Length("zone.free_area") is ulong n ? (long)n : -1;
        bool hasBuddy = info.Number("PAGE_BUDDY_MAPCOUNT_VALUE") is not null;
        byte[] block = new byte[PgmmCached * size];
        bool[] readable = new bool[PgmmCached];

        foreach (MemMapSection section in memMap.Sections)
        {
            ulong end = Math.Min(section.End.Value, maxMapnr);
            ulong loaded = ulong.MaxValue;
            for (ulong pfn = section.Start.Value; pfn < end; pfn++)
            {
                if (!InSegments(physical, pfn))
                    continue;
                ulong blockStart = pfn - pfn % PgmmCached;
                if (blockStart != loaded)
                {
                    int count = (int)Math.Min(PgmmCached, end - blockStart);
                    if (memMap.ReadStructPages(new PageFrameNumber(blockStart), count, block, readable) != count)
                        throw new InvalidOperationException($"makedumpfile would stop: struct pages near pfn 0x{pfn:x} cannot be read");
                    loaded = blockStart;
                }
                int index = (int)(pfn % PgmmCached);
                ReadOnlySpan<byte> page = block.AsSpan(index * size, size);
                StructPage p = l.Read(page);
                int order = 0;
                long dtor = 0;
                if (index < PgmmCached - 1 && (p.Flags & (ulong)Number("PG_head_mask")) != 0)
                {
                    ReadOnlySpan<byte> next = block.AsSpan((index + 1) * size, size);
                    if (orderOffset is int oo)
                        order = next[oo];
                    if (dtorOffset is int dd)
                        dtor = next[dd];
                    if (order >= 64 || (pfn & ((1UL << order) - 1)) != 0)
                        order = 0;
                }
                ulong pages = 1UL << order;
                bool anon = (p.Mapping & 1) != 0;
                bool cache = TestBit(Number("PG_lru"), p.Flags)
                    || ((Number("PG_swapbacked") == -1 || TestBit(Number("PG_swapbacked"), p.Flags)) && TestBit(Number("PG_swapcache"), p.Flags));
                PageClass counter;
                if ((p.CompoundHead & 1) != 0)
                    continue;
                if (hasBuddy && !SlabBit(p.Flags) && (int)p.MapCount == (int)Number("PAGE_BUDDY_MAPCOUNT_VALUE"))
                {
                    if (freeAreaLength >= 0 && p.Private >= (ulong)freeAreaLength)
                        continue;
                    pages = 1UL << (int)p.Private;
                    counter = PageClass.Free;
                }
                else if (cache && !TestBit(Number("PG_private"), p.Flags) && !anon)
                    counter = PageClass.Cache;
                else if (cache && !anon)
                    counter = TestBit(Number("PG_private"), p.Flags) ? PageClass.CachePrivate : PageClass.Cache;
                else if (anon || (Number("HUGETLB_PAGE_DTOR") != -1 && Number("HUGETLB_PAGE_DTOR") == dtor))
                    counter = PageClass.User;
                else if (Number("PG_hwpoison") != -1 && TestBit(Number("PG_hwpoison"), p.Flags))
                    counter = PageClass.HwPoison;
                else if (Number("PAGE_OFFLINE_MAPCOUNT_VALUE") != -1 && !SlabBit(p.Flags) && (int)p.MapCount == (int)Number("PAGE_OFFLINE_MAPCOUNT_VALUE"))
                    counter = PageClass.Offline;
                else
                    continue;
                // exclude_range: clamped to the cycle (all of memory here), not to the section or the RAM.
                for (ulong q = pfn; q < Math.Min(pfn + pages, maxMapnr); q++)
                {
                    excluded[q] = true;
                    counters[counter] = counters.GetValueOrDefault(counter) + 1;
                }
                pfn += pages - 1;
            }
        }
        return new Makedumpfile172Model { Excluded = excluded, Counters = counters };
    }

    /// <summary>is_in_segs: the page's first byte lies in a PT_LOAD.</summary>
    private static bool InSegments(PhysicalMemory physical, ulong pfn)
    {
        ulong address = pfn << PageFrameNumber.PageShift;
        foreach (PhysicalRange r in physical.Ranges)
            if (r.Contains(new PhysicalAddress(address)))
                return true;
        return false;
    }
}
