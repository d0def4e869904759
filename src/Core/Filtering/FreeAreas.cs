using System.Buffers.Binary;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>One zone's buddy allocator bookkeeping (struct zone, include/linux/mmzone.h).</summary>
/// <param name="Node">The NUMA node (index into node_data).</param>
/// <param name="Zone">The zone's index in pglist_data.node_zones (DMA, DMA32, Normal, Movable, Device on x86_64).</param>
/// <param name="Address">The struct zone's address.</param>
/// <param name="SpannedPages">zone.spanned_pages.</param>
/// <param name="FreePagesCounter">zone.vm_stat[NR_FREE_PAGES]: the zone's counter, without the per-CPU deltas not yet folded in.</param>
/// <param name="FreeBlocks">free_area[order].nr_free for each order: blocks of 2^order pages on the free lists, kept exact under the zone lock.</param>
public sealed record ZoneFreeArea(int Node, int Zone, ulong Address, ulong SpannedPages, long FreePagesCounter, IReadOnlyList<ulong> FreeBlocks)
{
    /// <summary>Pages on the zone's free lists: the sum of nr_free × 2^order.</summary>
    public ulong FreePages => FreeBlocks.Select((n, order) => n << order).Aggregate(0UL, (a, b) => a + b);
}

/// <summary>One block on a buddy free list.</summary>
public readonly record struct FreeBlock(PageFrameNumber Start, int Order, int MigrateType);

/// <summary>The blocks found on a zone's free lists, and what stopped a walk early.</summary>
public sealed record FreeListWalk(IReadOnlyList<FreeBlock> Blocks, IReadOnlyList<string> Problems);

/// <summary>
/// The buddy allocator's own view of free memory, read through node_data (or contig_page_data) and
/// VMCOREINFO's pglist_data, zone and free_area layout. An independent check of the free pages the
/// mem_map walk finds: the same blocks must be on the free lists (makedumpfile falls back to walking
/// them when a kernel marks no buddy pages). struct free_area is
/// <c>{ struct list_head free_list[MIGRATE_TYPES]; unsigned long nr_free; }</c>; VMCOREINFO gives no
/// offset for nr_free, so it is taken as the word after the lists, checked against SIZE(free_area).
/// </summary>
public static class FreeAreas
{
    private const int MaxZonesPerNode = 16;
    private const int MaxNodes = 1 << 16;
    private const ulong MaxPglistBytes = 16 << 20;

    /// <summary>Every zone of every online node. Throws <see cref="KernelDataException"/> when a key is missing
    /// or a structure cannot be read.</summary>
    public static IReadOnlyList<ZoneFreeArea> Read(VirtualMemory memory, Vmcoreinfo vmcoreinfo)
    {
        Layout l = Layout.Of(vmcoreinfo);
        var zones = new List<ZoneFreeArea>();
        foreach ((int node, ulong pgdat) in Nodes(memory, vmcoreinfo))
        {
            int nrZones = (int)Math.Min(KernelStructReads.ReadUInt32(memory, pgdat + (ulong)l.NrZones, "pglist_data.nr_zones"), uint.MaxValue);
            if (nrZones < 0 || nrZones > MaxZonesPerNode || l.NodeZones + (long)nrZones * l.ZoneSize > l.PglistSize)
                throw new KernelDataException($"node {node}: pglist_data.nr_zones={nrZones} does not fit pglist_data.node_zones");
            for (int z = 0; z < nrZones; z++)
            {
                ulong zone = pgdat + (ulong)l.NodeZones + (ulong)z * (ulong)l.ZoneSize;
                byte[] bytes = new byte[l.ZoneSize];
                KernelStructReads.ReadBytes(memory, zone, bytes, $"node {node} zone {z}");
                var free = new ulong[l.Orders];
                for (int order = 0; order < l.Orders; order++)
                    free[order] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(l.FreeArea + order * l.FreeAreaSize + l.NrFree));
                zones.Add(new ZoneFreeArea(node, z, zone,
                    BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(l.SpannedPages)),
                    BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(l.FreePagesStat)),
                    free));
            }
        }
        return zones;
    }

    /// <summary>
    /// Walks every free list of <paramref name="zone"/> (each order, each migrate type) and returns the
    /// blocks on them. Stops a list at a pointer that is not a struct page's lru, a read fault, or after
    /// <paramref name="maxBlocks"/> blocks in all (a corrupt list can loop), saying so in Problems.
    /// </summary>
    public static FreeListWalk WalkFreeLists(VirtualMemory memory, Vmcoreinfo vmcoreinfo, MemMap memMap, ZoneFreeArea zone, long maxBlocks)
    {
        Layout l = Layout.Of(vmcoreinfo);
        int lru = memMap.Layout.Lru ?? throw new KernelDataException("the dump's VMCOREINFO has no OFFSET(page.lru)");
        var blocks = new List<FreeBlock>();
        var problems = new List<string>();
        for (int order = 0; order < l.Orders; order++)
        {
            for (int type = 0; type < l.MigrateTypes; type++)
            {
                ulong head = zone.Address + (ulong)(l.FreeArea + order * l.FreeAreaSize + l.FreeList + type * l.ListHeadSize);
                string where = $"node {zone.Node} zone {zone.Zone} order {order} type {type}";
                try
                {
                    ulong entry = memory.ReadUInt64(head + (ulong)l.ListNext);
                    while (entry != head)
                    {
                        if (blocks.Count >= maxBlocks)
                        {
                            problems.Add($"{where}: stopped after {maxBlocks} blocks in all");
                            return new FreeListWalk(blocks, problems);
                        }
                        if (!memMap.TryGetFrame(entry - (ulong)lru, out PageFrameNumber pfn))
                        {
                            problems.Add($"{where}: 0x{entry:x} is not the lru of a struct page");
                            break;
                        }
                        blocks.Add(new FreeBlock(pfn, order, type));
                        entry = memory.ReadUInt64(entry + (ulong)l.ListNext);
                    }
                }
                catch (MemoryFaultException fault)
                {
                    problems.Add($"{where}: {fault.Message}");
                }
            }
        }
        return new FreeListWalk(blocks, problems);
    }

    private static IEnumerable<(int Node, ulong Pgdat)> Nodes(VirtualMemory memory, Vmcoreinfo vmcoreinfo)
    {
        if (vmcoreinfo.Symbol("node_data") is ulong nodeData)
        {
            ulong length = vmcoreinfo.Length("node_data") ?? 1;
            if (length > MaxNodes)
                throw new KernelDataException($"VMCOREINFO LENGTH(node_data)={length} is more nodes than any kernel has");
            for (int node = 0; node < (int)length; node++)
            {
                ulong pgdat;
                try
                {
                    pgdat = memory.ReadUInt64(nodeData + (ulong)node * sizeof(ulong));
                }
                catch (MemoryFaultException fault)
                {
                    throw new KernelDataException($"node_data[{node}] cannot be read: {fault.Message}");
                }
                if (pgdat != 0)
                    yield return (node, pgdat);
            }
        }
        else if (vmcoreinfo.Symbol("contig_page_data") is ulong contig)
            yield return (0, contig);
        else
            throw new KernelDataException("the dump's VMCOREINFO has neither SYMBOL(node_data) nor SYMBOL(contig_page_data)");
    }

    /// <summary>The offsets used, each checked to lie inside its structure.</summary>
    private sealed record Layout(int PglistSize, int NodeZones, int NrZones, int ZoneSize, int FreeArea, int SpannedPages, int FreePagesStat,
        int FreeAreaSize, int Orders, int FreeList, int MigrateTypes, int ListHeadSize, int ListNext, int NrFree)
    {
        public static Layout Of(Vmcoreinfo v)
        {
            // pglist_data holds the zones and is far larger than StructLayout allows (170 KiB on Debian's kernels).
            ulong pglistSize = v.RequireSize("pglist_data");
            if (pglistSize is 0 or > MaxPglistBytes)
                throw new KernelDataException($"VMCOREINFO SIZE(pglist_data)={pglistSize} is not a plausible structure size");
            StructLayout zone = StructLayout.Of(v, "zone");
            StructLayout freeArea = StructLayout.Of(v, "free_area");
            StructLayout listHead = StructLayout.Of(v, "list_head");
            int orders = Count(v, "zone.free_area", 64);
            int types = Count(v, "free_area.free_list", 64);
            int freeList = freeArea.Field("free_list", types * listHead.Size);
            int nrFree = freeArea.Fits("free_area.nr_free", freeList + types * listHead.Size, sizeof(ulong));
            if (nrFree + sizeof(ulong) != freeArea.Size)
                throw new KernelDataException($"SIZE(free_area)={freeArea.Size} is not the free lists plus nr_free ({nrFree + sizeof(ulong)} bytes)");
            int freeAreas = zone.Field("free_area", orders * freeArea.Size);
            long nrFreePages = v.RequireNumber("NR_FREE_PAGES");
            int atomicLong = (int)(v.Size("atomic_long_t") ?? sizeof(long));
            if (nrFreePages is < 0 or > 1024 || atomicLong != sizeof(long))
                throw new KernelDataException($"VMCOREINFO NUMBER(NR_FREE_PAGES)={nrFreePages} is not a zone counter index");
            return new Layout((int)pglistSize, PglistField(v, "node_zones", zone.Size, pglistSize), PglistField(v, "nr_zones", sizeof(int), pglistSize), zone.Size, freeAreas,
                zone.Field("spanned_pages", sizeof(ulong)), zone.Field("vm_stat", sizeof(long), (int)nrFreePages * sizeof(long)),
                freeArea.Size, orders, freeList, types, listHead.Size, listHead.Fits("list_head.next", StructLayout.Offset(v, "list_head.next"), sizeof(ulong)),
                nrFree);
        }

        private static int PglistField(Vmcoreinfo v, string field, int width, ulong size)
        {
            ulong offset = v.RequireOffset($"pglist_data.{field}");
            return offset + (ulong)width <= size ? (int)offset
                : throw new KernelDataException($"VMCOREINFO puts pglist_data.{field} ({width} bytes at offset {offset}) outside SIZE(pglist_data)={size}");
        }

        private static int Count(Vmcoreinfo v, string name, int max)
        {
            ulong n = v.RequireLength(name);
            return n is > 0 && n <= (ulong)max ? (int)n : throw new KernelDataException($"VMCOREINFO LENGTH({name})={n} is not plausible");
        }
    }
}
