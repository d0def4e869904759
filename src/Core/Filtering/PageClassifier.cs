using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>What a classification pass met besides ordinary pages; counts accumulate over passes.</summary>
public sealed class PageClassifierStatistics
{
    /// <summary>Struct pages read from mem_map (in blocks of <see cref="PageClassifier.BatchPages"/>).</summary>
    public ulong StructPagesRead { get; internal set; }

    /// <summary>Reads of mem_map, one per block plus one per compound head looked up from a tail.</summary>
    public ulong MemMapReads { get; internal set; }

    /// <summary>RAM pages whose struct page is not in the dump, or whose section has no mem_map: classed Unknown.</summary>
    public ulong MissingStructPages { get; internal set; }

    /// <summary>Buddy pages whose order (page.private) is not below LENGTH(zone.free_area) or does not align with the pfn: kept.</summary>
    public ulong BadBuddyOrders { get; internal set; }

    /// <summary>Compound heads whose order is impossible (not below 64, or the head is not aligned to it): treated as order 0.</summary>
    public ulong BadCompoundOrders { get; internal set; }

    /// <summary>Tail pages whose head could not be found, or does not cover them: kept.</summary>
    public ulong OrphanTails { get; internal set; }

    /// <summary>Pages inside a head's claimed range that do not point back to it: classed on their own.</summary>
    public ulong ForeignPagesInCompound { get; internal set; }

    public override string ToString() =>
        $"{StructPagesRead} struct pages in {MemMapReads} reads; missing {MissingStructPages}, bad buddy orders {BadBuddyOrders}, " +
        $"bad compound orders {BadCompoundOrders}, orphan tails {OrphanTails}, foreign pages in compounds {ForeignPagesInCompound}";
}

/// <summary>
/// Decides, for every page frame of a dump, which dump-level class it belongs to, from the crashed
/// kernel's mem_map and its own definitions of page state (<see cref="KernelPageRules"/>): the tests
/// of makedumpfile's __exclude_unnecessary_pages, as the kernel means them.
/// <list type="number">
/// <item>A tail page (compound_head bit 0) belongs to its head: it takes the head's class when the head's
/// order covers it. A page inside a head's range that does not point back to that head is classed on its own.</item>
/// <item>PG_hwpoison: <see cref="PageClass.HwPoison"/>; on a head with a compound order, the whole compound page;
/// on a tail or a page inside a free block, that page alone (the flag is per page).</item>
/// <item>Slab (PG_slab, or the slab page type): kept, and never tested as buddy, offline or anonymous:
/// since 6.2 slab fields overlap page.mapping and can look anonymous.</item>
/// <item>PageOffline: <see cref="PageClass.Offline"/>.</item>
/// <item>PageBuddy: <see cref="PageClass.Free"/> for 2^page.private pages, when that order is below
/// LENGTH(zone.free_area) and aligned. Unaccepted memory (6.16+): free, at the largest order.</item>
/// <item>A hugetlbfs head: <see cref="PageClass.User"/> for the compound page.</item>
/// <item>Page or swap cache (PG_lru, or PG_swapcache with PG_swapbacked) and not anonymous:
/// <see cref="PageClass.CachePrivate"/> with PG_private, else <see cref="PageClass.Cache"/>.</item>
/// <item>Anonymous (mapping bit 0): <see cref="PageClass.User"/>.</item>
/// <item>Anything else: <see cref="PageClass.Kept"/>.</item>
/// </list>
/// Hardware-poisoned and offline pages come first because every level drops them, so the set a level
/// drops is the same whatever order the other tests run in.
/// <para>
/// Work and memory are bounded: struct pages are read <see cref="BatchPages"/> at a time (one read per
/// 4 KiB of mem_map), each RAM page is visited at most once (free blocks not at all with
/// <see cref="WholeFreeBlocks"/>), plus at most one head lookup per tail page; the
/// classifier holds one block of struct pages (BatchPages × SIZE(page), 32 KiB at 64 bytes), and
/// <see cref="MemMap"/> 64 bytes per memory section of RAM. Runs are produced as the walk goes.
/// Not thread-safe: one pass at a time.
/// </para>
/// </summary>
public sealed class PageClassifier
{
    /// <summary>Struct pages read per block, as makedumpfile's PGMM_CACHED.</summary>
    public const int BatchPages = 512;

    private readonly PhysicalMemory _physical;
    private readonly int _blockPages;
    private readonly byte[] _block;
    private readonly bool[] _readable;
    private readonly byte[] _headBuffer;
    private readonly bool[] _headReadable = new bool[2];
    private readonly ulong _lookBack;

    public PageClassifier(MemMap memMap, KernelPageRules rules, PhysicalMemory physical)
    {
        MemMap = memMap;
        Rules = rules;
        _physical = physical;
        _blockPages = (int)Math.Min((ulong)BatchPages, memMap.PagesPerSection);
        _block = new byte[_blockPages * memMap.Layout.Size];
        _readable = new bool[_blockPages];
        _headBuffer = new byte[2 * memMap.Layout.Size];
        // A window that starts inside a free block needs the block's head, at most the largest block back.
        _lookBack = 1UL << ((rules.FreeAreaOrders ?? 11) - 1);
    }

    /// <summary>Builds the classifier for a dump's kernel: mem_map located and rules read from VMCOREINFO.</summary>
    /// <param name="wholeFreeBlocks">Sets <see cref="WholeFreeBlocks"/>.</param>
    public static PageClassifier Create(VirtualMemory memory, Vmcoreinfo vmcoreinfo, DumpLimits? limits = null, bool wholeFreeBlocks = false)
    {
        MemMap memMap = MemMap.Open(memory, vmcoreinfo, limits);
        return new PageClassifier(memMap, KernelPageRules.FromVmcoreinfo(vmcoreinfo, memMap.Layout), memory.Physical) { WholeFreeBlocks = wholeFreeBlocks };
    }

    /// <summary>
    /// Take a free block's head at its word for all 2^order pages, without reading their struct pages (as
    /// makedumpfile does), instead of testing each for PG_hwpoison. For a caller that drops free and
    /// poisoned pages alike, such as a capture at a level with bit 16: then the two differ only in how a
    /// poisoned page inside a free block is counted, and half the mem_map of a mostly idle machine is
    /// never read (on the 4 GiB realistic dump, 502,000 of 1,000,000 struct pages).
    /// </summary>
    public bool WholeFreeBlocks { get; init; }

    /// <summary>Classify ordinary pages from four fields (<c>TryClassifyPlain</c>); tests turn it off to check it against the full rules.</summary>
    internal bool PlainPageShortcut { get; init; } = true;

    public MemMap MemMap { get; }
    public KernelPageRules Rules { get; }
    public PageClassifierStatistics Statistics { get; } = new();

    /// <summary>Every page of the dump's RAM, in pfn order.</summary>
    public IEnumerable<PageClassRun> Classify() => Classify(new PageFrameNumber(0), _physical.EndFrame);

    /// <summary>
    /// The pages of the dump's RAM in [<paramref name="start"/>, <paramref name="end"/>), in pfn order, as
    /// runs of one class that never cross a hole. A window may start anywhere: the walk begins up to one
    /// largest free block earlier, and finds the head of a compound page it starts inside.
    /// </summary>
    public IEnumerable<PageClassRun> Classify(PageFrameNumber start, PageFrameNumber end)
    {
        ulong scanStart = start.Value - Math.Min(start.Value, start.Value & (_lookBack - 1));
        var walk = new Walk(this);
        ulong runStart = 0, runCount = 0;
        PageClass runClass = PageClass.Kept;
        foreach (PhysicalRange range in _physical.Ranges)
        {
            if (range.IsEmpty)
                continue;
            ulong first = Math.Max(range.Start.Frame.Value, scanStart);
            ulong last = Math.Min((range.End.Value - 1) >> PageFrameNumber.PageShift, end.Value - 1);
            if (end.Value == 0 || first > last)
                continue;
            for (ulong pfn = first; pfn <= last; pfn++)
            {
                PageClass c = walk.Next(pfn);
                // The pages this answer covers: the rest of a free block when those are taken whole, else this one.
                ulong span = WholeFreeBlocks && c == PageClass.Free ? Math.Min(walk.FreeBlockLeft(pfn), last - pfn + 1) : 1;
                ulong from = Math.Max(pfn, start.Value);
                pfn += span - 1;
                if (pfn < start.Value)
                    continue;
                ulong count = pfn - from + 1;
                if (runCount != 0 && c == runClass && runStart + runCount == from)
                {
                    runCount += count;
                    continue;
                }
                if (runCount != 0)
                    yield return new PageClassRun(new PageFrameNumber(runStart), runCount, runClass);
                (runStart, runCount, runClass) = (from, count, c);
            }
        }
        if (runCount != 0)
            yield return new PageClassRun(new PageFrameNumber(runStart), runCount, runClass);
    }

    /// <summary>Counts the pages of each class in the dump's RAM.</summary>
    public PageClassCounts Count() => PageClassCounts.Of(Classify());

    /// <summary>The state carried from page to page: the current block of struct pages and the range a head claimed.</summary>
    private sealed class Walk(PageClassifier owner)
    {
        private readonly PageClassifier _c = owner;
        private ulong _blockStart = ulong.MaxValue;
        private bool _blockLoaded;

        // The range [_pendingStart, _pendingEnd) a free block or compound head claimed. For a compound
        // page each member must point back to _pendingHead (its struct page address); a free block's
        // other pages carry no mark, so they are taken on the head's word, as the allocator does.
        private ulong _pendingEnd;
        private PageClass _pendingClass;
        private bool _pendingIsCompound;
        private ulong _pendingHead;
        private ulong _failedHead = ulong.MaxValue;

        private readonly int _flagsOffset = owner.MemMap.Layout.Flags;
        private readonly int _compoundHeadOffset = owner.MemMap.Layout.CompoundHead;
        private readonly int _mapCountOffset = owner.MemMap.Layout.MapCount;
        private readonly int _mappingOffset = owner.MemMap.Layout.Mapping;
        private readonly ulong _hwPoisonMask = owner.Rules.HwPoisonBit is int bit ? 1UL << bit : 0;

        // An ordinary page: no head, tail, poison, slab or page type; its class is the rules' OrdinaryClass.
        private readonly bool _plainShortcut = owner.PlainPageShortcut && owner.Rules.TypesOnlyBelowMinusOne;
        private readonly ulong _notPlainFlags = owner.Rules.NotOrdinaryFlags;

        public PageClass Next(ulong pfn)
        {
            int size = _c.MemMap.Layout.Size;
            ulong blockStart = pfn & ~((ulong)_c._blockPages - 1);
            if (blockStart != _blockStart)
                Load(blockStart);
            int index = (int)(pfn - blockStart);
            bool readable = _blockLoaded && _c._readable[index];
            bool pending = pfn < _pendingEnd;

            if (!readable)
            {
                if (pending)
                    return _pendingClass;
                _c.Statistics.MissingStructPages++;
                return PageClass.Unknown;
            }
            ReadOnlySpan<byte> bytes = _c._block.AsSpan(index * size, size);
            // Most pages lie inside a free block or a compound page a head claimed: for those two fields
            // decide, so the whole struct page is decoded only when they do not (about a third less time
            // classifying a 4 GiB dump). The full path below gives the same answer.
            if (pending && (BinaryPrimitives.ReadUInt64LittleEndian(bytes[_flagsOffset..]) & _hwPoisonMask) == 0
                && (!_pendingIsCompound || PointsTo(BinaryPrimitives.ReadUInt64LittleEndian(bytes[_compoundHeadOffset..]), _pendingHead)))
                return _pendingClass;
            if (!pending && _plainShortcut && TryClassifyPlain(bytes, out PageClass plain))
                return plain;
            StructPage page = _c.MemMap.Layout.Read(bytes);
            // PG_hwpoison is per page (PF_ANY): memory_failure() marks the poisoned subpage of a compound
            // page, and the crash kernel must not read it whatever its head is.
            if (_c.Rules.IsHwPoison(page))
                return PageClass.HwPoison;
            if (pending)
            {
                if (!_pendingIsCompound || (page.IsTail && page.HeadAddress == _pendingHead))
                    return _pendingClass;
                _c.Statistics.ForeignPagesInCompound++;
                _pendingEnd = 0;
            }
            if (page.IsTail)
                return FollowHead(pfn, page);

            bool hasNext = index + 1 < _c._blockPages && _c._readable[index + 1];
            ReadOnlySpan<byte> headAndNext = _c._block.AsSpan(index * size, hasNext ? 2 * size : size);
            (PageClass cls, ulong pages, bool compound) = _c.ClassifyHead(pfn, page, headAndNext);
            if (pages > 1)
                Claim(pfn, pages, cls, compound, _c.MemMap.TryGetStructPageAddress(new PageFrameNumber(pfn), out ulong a) ? a : 0);
            return cls;
        }

        /// <summary>
        /// The class of an ordinary page, the answer <see cref="ClassifyHead"/> gives for it, from four fields
        /// instead of the whole struct page and every rule: most pages of a busy machine are such (page cache,
        /// anonymous memory, kernel allocations), and decoding each took a capture's main thread ~95 ns a page.
        /// </summary>
        private bool TryClassifyPlain(ReadOnlySpan<byte> bytes, out PageClass cls)
        {
            cls = PageClass.Kept;
            ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(bytes[_flagsOffset..]);
            if ((flags & _notPlainFlags) != 0 || (BinaryPrimitives.ReadUInt64LittleEndian(bytes[_compoundHeadOffset..]) & 1) != 0
                || (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[_mapCountOffset..]) < -1)
                return false;
            cls = _c.Rules.OrdinaryClass(flags, BinaryPrimitives.ReadUInt64LittleEndian(bytes[_mappingOffset..]));
            return true;
        }

        /// <summary>Pages from <paramref name="pfn"/> to the end of the free block a head claimed (1 when none is in force).</summary>
        public ulong FreeBlockLeft(ulong pfn) => pfn < _pendingEnd && !_pendingIsCompound ? _pendingEnd - pfn : 1;

        /// <summary>Whether a compound_head value marks a tail of the head at <paramref name="headAddress"/> (as <see cref="StructPage.IsTail"/> and <see cref="StructPage.HeadAddress"/>).</summary>
        private static bool PointsTo(ulong compoundHead, ulong headAddress) => (compoundHead & 1) != 0 && (compoundHead & ~1UL) == headAddress;

        private void Claim(ulong head, ulong pages, PageClass cls, bool compound, ulong headAddress)
        {
            _pendingEnd = head + pages < head ? ulong.MaxValue : head + pages;
            _pendingClass = cls;
            _pendingIsCompound = compound;
            _pendingHead = headAddress;
        }

        /// <summary>A tail met without its head's range in force (a window starting mid-page, or the head
        /// was not read): look the head up through compound_head and take its class if it covers us.</summary>
        private PageClass FollowHead(ulong pfn, StructPage tail)
        {
            ulong headAddress = tail.HeadAddress;
            if (headAddress != _failedHead && _c.MemMap.TryGetFrame(headAddress, out PageFrameNumber headPfn) && headPfn.Value < pfn)
            {
                int size = _c.MemMap.Layout.Size;
                int count = _c.MemMap.TryGetSection(headPfn + 1, out MemMapSection s) && s.Start <= headPfn ? 2 : 1;
                _c.Statistics.MemMapReads++;
                _c.Statistics.StructPagesRead += (ulong)count;
                _c.MemMap.ReadStructPages(headPfn, count, _c._headBuffer, _c._headReadable);
                if (_c._headReadable[0])
                {
                    StructPage head = _c.MemMap.Layout.Read(_c._headBuffer);
                    int usable = count == 2 && _c._headReadable[1] ? 2 * size : size;
                    if (!head.IsTail)
                    {
                        (PageClass cls, ulong pages, bool compound) = _c.ClassifyHead(headPfn.Value, head, _c._headBuffer.AsSpan(0, usable), recount: false);
                        if (compound && pfn - headPfn.Value < pages)
                        {
                            Claim(headPfn.Value, pages, cls, compound, headAddress);
                            return cls;
                        }
                    }
                }
            }
            _failedHead = headAddress;
            _c.Statistics.OrphanTails++;
            return PageClass.Kept;
        }

        private void Load(ulong blockStart)
        {
            _blockStart = blockStart;
            _blockLoaded = _c.MemMap.TryGetSection(new PageFrameNumber(blockStart), out _);
            if (!_blockLoaded)
                return;
            _c.Statistics.MemMapReads++;
            _c.Statistics.StructPagesRead += (ulong)_c._blockPages;
            _c.MemMap.ReadStructPages(new PageFrameNumber(blockStart), _c._blockPages, _c._block, _c._readable);
        }
    }

    /// <summary>
    /// The class of a page that is not a tail, and how many pages from it share that class: 2^order for a
    /// free block (<c>compound</c> false) or a compound page (<c>compound</c> true), else 1.
    /// <paramref name="headAndNext"/> holds its struct page and, when readable, the next one. A head looked
    /// up again from a tail (<paramref name="recount"/> false) does not count its anomalies twice.
    /// </summary>
    internal (PageClass Class, ulong Pages, bool Compound) ClassifyHead(ulong pfn, in StructPage page, ReadOnlySpan<byte> headAndNext, bool recount = true)
    {
        KernelPageRules r = Rules;
        int order = 0;
        if (r.IsHead(page) && headAndNext.Length >= 2 * MemMap.Layout.Size && r.ReadCompoundOrder(headAndNext) is int claimed && claimed != 0)
        {
            if (claimed < 64 && (pfn & ((1UL << claimed) - 1)) == 0)
                order = claimed;
            else if (recount)
                Statistics.BadCompoundOrders++;
        }
        ulong compoundPages = 1UL << order;

        if (r.IsHwPoison(page))
            return (PageClass.HwPoison, compoundPages, true);
        if (r.IsSlab(page))
            return (PageClass.Kept, compoundPages, true);
        if (r.IsOffline(page))
            return (PageClass.Offline, compoundPages, true);
        if (r.IsBuddy(page))
        {
            ulong buddyOrder = page.Private;
            if (buddyOrder < (ulong)(r.FreeAreaOrders ?? 64) && (pfn & ((1UL << (int)buddyOrder) - 1)) == 0)
                return (PageClass.Free, 1UL << (int)buddyOrder, false);
            if (recount)
                Statistics.BadBuddyOrders++;
            return (PageClass.Kept, 1, false);
        }
        if (r.IsUnaccepted(page) && r.FreeAreaOrders is int orders)
        {
            ulong pages = 1UL << (orders - 1);
            return (pfn & (pages - 1)) == 0 ? (PageClass.Free, pages, false) : (PageClass.Kept, 1, false);
        }
        if (r.IsHead(page) && r.IsHugetlb(page, headAndNext, MemMap.Layout))
            return (PageClass.User, compoundPages, true);
        return (r.OrdinaryClass(page.Flags, page.Mapping), compoundPages, true);
    }
}
