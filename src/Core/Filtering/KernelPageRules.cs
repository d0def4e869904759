using System.Buffers.Binary;
using System.Globalization;
using KdumpSharp.Kernel;

namespace KdumpSharp.Filtering;

/// <summary>Where a kernel keeps a compound page's (folio's) order.</summary>
public enum CompoundOrderSource
{
    /// <summary>Not known for this kernel: compound pages count as single pages (heads), tails follow their head only when found.</summary>
    Unknown,

    /// <summary>A byte in page[1] at OFFSET(page.compound_order) (4.16–6.2; a u16 before 4.16).</summary>
    SecondPageField,

    /// <summary>A byte at OFFSET(folio._folio_order) from the head (6.3–6.5).</summary>
    FolioField,

    /// <summary>The low byte of page[1].flags, folio._flags_1 (6.6+).</summary>
    SecondPageFlagsLowByte,
}

/// <summary>How a kernel marks a hugetlbfs folio.</summary>
public enum HugetlbSource
{
    /// <summary>The dump does not say (no hugetlb support, or an unknown era): no page is hugetlb.</summary>
    None,

    /// <summary>page[1].compound_dtor (or folio._folio_dtor) == NUMBER(HUGETLB_PAGE_DTOR) (4.4–6.5).</summary>
    Destructor,

    /// <summary>NUMBER(PG_hugetlb) set in page[1].flags (6.6–6.8).</summary>
    SecondPageFlag,

    /// <summary>The head's page type, NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE) (6.9+).</summary>
    PageType,
}

/// <summary>
/// The crashed kernel's definitions of page state, read from VMCOREINFO: the PG_* bit numbers, the page
/// types stored in _mapcount, and where compound order and hugetlb marks live in this kernel's era
/// (include/linux/page-flags.h, mm_types.h, kernel/vmcore_info.c). Every value comes from the dump;
/// only the era of a layout VMCOREINFO does not describe (the folio order in page[1].flags since 6.6)
/// is chosen by OSRELEASE, as makedumpfile does.
/// </summary>
public sealed class KernelPageRules
{
    private KernelPageRules() { }

    /// <summary>The kernel release's major and minor number, from OSRELEASE (0.0 when it cannot be parsed).</summary>
    public Version KernelVersion { get; private init; } = new(0, 0);

    public int LruBit { get; private init; }
    public int PrivateBit { get; private init; }
    public int SwapCacheBit { get; private init; }

    /// <summary>NUMBER(PG_swapbacked); absent before 4.10, when PG_swapcache alone meant swap cache.</summary>
    public int? SwapBackedBit { get; private init; }

    /// <summary>NUMBER(PG_hwpoison); absent without CONFIG_MEMORY_FAILURE.</summary>
    public int? HwPoisonBit { get; private init; }

    /// <summary>NUMBER(PG_slab), until 6.9 (6.10 made slab a page type).</summary>
    public int? SlabBit { get; private init; }

    /// <summary>NUMBER(PG_head_mask): a mask, not a bit number.</summary>
    public ulong HeadMask { get; private init; }

    public PageTypeTest? Buddy { get; private init; }
    public PageTypeTest? Offline { get; private init; }
    public PageTypeTest? SlabType { get; private init; }
    public PageTypeTest? HugetlbType { get; private init; }
    public PageTypeTest? Unaccepted { get; private init; }

    /// <summary>LENGTH(zone.free_area): buddy orders run 0 to this minus one (NR_PAGE_ORDERS). Null when not exported.</summary>
    public int? FreeAreaOrders { get; private init; }

    public CompoundOrderSource CompoundOrder { get; private init; }

    /// <summary>Byte offset of the order from the head's struct page (so page[1] fields include SIZE(page)).</summary>
    public int CompoundOrderOffset { get; private init; }

    /// <summary>Width of the order field: 1, or 2 before 4.16.</summary>
    public int CompoundOrderWidth { get; private init; } = 1;

    public HugetlbSource Hugetlb { get; private init; }

    /// <summary>For <see cref="HugetlbSource.Destructor"/>: byte offset from the head and the destructor id.</summary>
    public int HugetlbDestructorOffset { get; private init; }
    public int HugetlbDestructorWidth { get; private init; } = 1;
    public long HugetlbDestructor { get; private init; }

    /// <summary>For <see cref="HugetlbSource.SecondPageFlag"/>: NUMBER(PG_hugetlb).</summary>
    public int HugetlbBit { get; private init; }

    /// <summary>Reads the rules; throws <see cref="KernelDataException"/> when a key every filter needs is missing or impossible.</summary>
    public static KernelPageRules FromVmcoreinfo(Vmcoreinfo vmcoreinfo, StructPageLayout layout)
    {
        Version version = ParseRelease(vmcoreinfo.OsRelease);
        int pageSize = layout.Size;

        (CompoundOrderSource order, int orderOffset, int orderWidth) = (CompoundOrderSource.Unknown, 0, 1);
        if (Offset(vmcoreinfo, "folio._folio_order", pageSize, 2 * pageSize) is int folioOrder)
            (order, orderOffset) = (CompoundOrderSource.FolioField, folioOrder);
        else if (Offset(vmcoreinfo, "page.compound_order", 0, pageSize) is int pageOrder)
            (order, orderOffset, orderWidth) = (CompoundOrderSource.SecondPageField, pageSize + pageOrder, version >= new Version(4, 16) ? 1 : 2);
        else if (vmcoreinfo.Number("PAGE_HUGETLB_MAPCOUNT_VALUE") is not null || vmcoreinfo.Number("PG_hugetlb") is not null
                 || version >= new Version(6, 6))
            (order, orderOffset) = (CompoundOrderSource.SecondPageFlagsLowByte, pageSize + layout.Flags);
        if (orderOffset + orderWidth > 2 * pageSize)
            throw new KernelDataException($"the compound order at byte {orderOffset} lies outside the first two struct pages");

        (HugetlbSource hugetlb, int dtorOffset, int dtorWidth, long dtorValue, int hugetlbBit) = (HugetlbSource.None, 0, 1, 0, 0);
        if (vmcoreinfo.Number("PAGE_HUGETLB_MAPCOUNT_VALUE") is not null)
            hugetlb = HugetlbSource.PageType;
        else if (Bit(vmcoreinfo, "PG_hugetlb") is int bit)
            (hugetlb, hugetlbBit) = (HugetlbSource.SecondPageFlag, bit);
        else if (vmcoreinfo.Number("HUGETLB_PAGE_DTOR") is long dtor)
        {
            if (Offset(vmcoreinfo, "folio._folio_dtor", pageSize, 2 * pageSize) is int folioDtor)
                (hugetlb, dtorOffset, dtorValue) = (HugetlbSource.Destructor, folioDtor, dtor);
            else if (Offset(vmcoreinfo, "page.compound_dtor", 0, pageSize) is int pageDtor)
                (hugetlb, dtorOffset, dtorWidth, dtorValue) = (HugetlbSource.Destructor, pageSize + pageDtor, version >= new Version(4, 16) ? 1 : 2, dtor);
            if (dtorOffset + dtorWidth > 2 * pageSize)
                throw new KernelDataException($"the compound destructor at byte {dtorOffset} lies outside the first two struct pages");
        }

        var rules = new KernelPageRules
        {
            KernelVersion = version,
            LruBit = Bit(vmcoreinfo, "PG_lru") ?? throw Missing("PG_lru"),
            PrivateBit = Bit(vmcoreinfo, "PG_private") ?? throw Missing("PG_private"),
            SwapCacheBit = Bit(vmcoreinfo, "PG_swapcache") ?? throw Missing("PG_swapcache"),
            SwapBackedBit = Bit(vmcoreinfo, "PG_swapbacked"),
            HwPoisonBit = Bit(vmcoreinfo, "PG_hwpoison"),
            SlabBit = Bit(vmcoreinfo, "PG_slab"),
            HeadMask = (ulong)(vmcoreinfo.Number("PG_head_mask") ?? throw Missing("PG_head_mask")),
            Buddy = Type(vmcoreinfo, "PAGE_BUDDY_MAPCOUNT_VALUE"),
            Offline = Type(vmcoreinfo, "PAGE_OFFLINE_MAPCOUNT_VALUE"),
            SlabType = Type(vmcoreinfo, "PAGE_SLAB_MAPCOUNT_VALUE"),
            HugetlbType = Type(vmcoreinfo, "PAGE_HUGETLB_MAPCOUNT_VALUE"),
            Unaccepted = Type(vmcoreinfo, "PAGE_UNACCEPTED_MAPCOUNT_VALUE"),
            FreeAreaOrders = vmcoreinfo.Length("zone.free_area") is ulong n && n is > 0 and <= 64 ? (int)n : null,
            CompoundOrder = order,
            CompoundOrderOffset = orderOffset,
            CompoundOrderWidth = orderWidth,
            Hugetlb = hugetlb,
            HugetlbDestructorOffset = dtorOffset,
            HugetlbDestructorWidth = dtorWidth,
            HugetlbDestructor = dtorValue,
            HugetlbBit = hugetlbBit,
        };
        if (rules.HeadMask == 0)
            throw new KernelDataException("VMCOREINFO NUMBER(PG_head_mask)=0 marks no page as a compound head");
        return rules;
    }

    /// <summary>Whether a _mapcount of -1 or more means "no page type" to every type test these rules have.</summary>
    public bool TypesOnlyBelowMinusOne =>
        OnlyBelowMinusOne(Buddy) && OnlyBelowMinusOne(Offline) && OnlyBelowMinusOne(SlabType) && OnlyBelowMinusOne(HugetlbType) && OnlyBelowMinusOne(Unaccepted);

    private static bool OnlyBelowMinusOne(PageTypeTest? test) => test is not PageTypeTest type || type.MatchesOnlyBelowMinusOne;

    public bool IsHead(in StructPage page) => (page.Flags & HeadMask) != 0;
    public bool IsHwPoison(in StructPage page) => HwPoisonBit is int bit && Test(page.Flags, bit);

    /// <summary>PageSlab: the slab page type (6.10+) or PG_slab (before 6.10).</summary>
    public bool IsSlab(in StructPage page) =>
        (SlabType is PageTypeTest type && type.Matches(page.MapCount)) || (SlabBit is int bit && Test(page.Flags, bit));

    public bool IsBuddy(in StructPage page) => Buddy is PageTypeTest type && type.Matches(page.MapCount);
    public bool IsOffline(in StructPage page) => Offline is PageTypeTest type && type.Matches(page.MapCount);
    public bool IsUnaccepted(in StructPage page) => Unaccepted is PageTypeTest type && type.Matches(page.MapCount);

    /// <summary>Page cache or swap cache: on an LRU list, or in the swap cache (PG_swapcache only counts with
    /// PG_swapbacked, since the bit doubles as a filesystem's PG_checked; before 4.10 there was no PG_swapbacked).</summary>
    private bool IsCache(ulong flags) =>
        Test(flags, LruBit) || (Test(flags, SwapCacheBit) && (SwapBackedBit is not int backed || Test(flags, backed)));

    /// <summary>
    /// The class of a page no other test claimed (not poisoned, slab, offline, free, unaccepted or hugetlb),
    /// from its flags and mapping: page or swap cache that is not anonymous, anonymous memory, or kept.
    /// </summary>
    public PageClass OrdinaryClass(ulong flags, ulong mapping)
    {
        // PageAnon: bit 0 of mapping (PAGE_MAPPING_ANON; KSM pages set bits 0 and 1).
        bool anon = (mapping & 1) != 0;
        if (IsCache(flags) && !anon)
            return Test(flags, PrivateBit) ? PageClass.CachePrivate : PageClass.Cache;
        return anon ? PageClass.User : PageClass.Kept;
    }

    /// <summary>Flags that take a page out of <see cref="OrdinaryClass"/>: a compound head, PG_hwpoison, PG_slab.</summary>
    public ulong NotOrdinaryFlags => HeadMask | (HwPoisonBit is int poison ? 1UL << poison : 0) | (SlabBit is int slab ? 1UL << slab : 0);

    /// <summary>
    /// The order a compound head claims, from the head and the struct page after it
    /// (<paramref name="headAndNext"/>, two struct pages), or null when the era's field is unknown.
    /// </summary>
    public int? ReadCompoundOrder(ReadOnlySpan<byte> headAndNext) => CompoundOrder switch
    {
        CompoundOrderSource.Unknown => null,
        _ => CompoundOrderWidth == 1 ? headAndNext[CompoundOrderOffset] : BinaryPrimitives.ReadUInt16LittleEndian(headAndNext[CompoundOrderOffset..]),
    };

    /// <summary>Whether a compound head is a hugetlbfs folio; false when a mark in page[1] is needed and
    /// <paramref name="headAndNext"/> lacks page[1].</summary>
    public bool IsHugetlb(in StructPage head, ReadOnlySpan<byte> headAndNext, StructPageLayout layout) => Hugetlb switch
    {
        HugetlbSource.PageType => HugetlbType is PageTypeTest type && type.Matches(head.MapCount),
        _ when headAndNext.Length < 2 * layout.Size => false,
        HugetlbSource.SecondPageFlag => Test(BinaryPrimitives.ReadUInt64LittleEndian(headAndNext[(layout.Size + layout.Flags)..]), HugetlbBit),
        HugetlbSource.Destructor => (HugetlbDestructorWidth == 1
            ? headAndNext[HugetlbDestructorOffset]
            : BinaryPrimitives.ReadUInt16LittleEndian(headAndNext[HugetlbDestructorOffset..])) == HugetlbDestructor,
        _ => false,
    };

    public override string ToString() =>
        $"kernel {KernelVersion}: PG_lru {LruBit}, PG_private {PrivateBit}, PG_swapcache {SwapCacheBit}, PG_swapbacked {SwapBackedBit?.ToString() ?? "-"}, " +
        $"PG_hwpoison {HwPoisonBit?.ToString() ?? "-"}, PG_slab {SlabBit?.ToString() ?? "-"}, PG_head_mask 0x{HeadMask:x}; " +
        $"buddy {Buddy?.ToString() ?? "-"}, offline {Offline?.ToString() ?? "-"}, slab {SlabType?.ToString() ?? "-"}, " +
        $"hugetlb {HugetlbType?.ToString() ?? "-"}, unaccepted {Unaccepted?.ToString() ?? "-"}; free-area orders {FreeAreaOrders?.ToString() ?? "-"}; " +
        $"compound order {CompoundOrder} at +{CompoundOrderOffset}; hugetlb by {Hugetlb}";

    private static bool Test(ulong flags, int bit) => ((flags >> bit) & 1) != 0;

    private static int? Bit(Vmcoreinfo vmcoreinfo, string name)
    {
        if (vmcoreinfo.Number(name) is not long bit)
            return null;
        return bit is >= 0 and < 64 ? (int)bit : throw new KernelDataException($"VMCOREINFO NUMBER({name})={bit} is not a bit of page.flags");
    }

    private static PageTypeTest? Type(Vmcoreinfo vmcoreinfo, string name)
    {
        if (vmcoreinfo.Number(name) is not long value)
            return null;
        return value is >= int.MinValue and < 0 ? new PageTypeTest((int)value)
            : throw new KernelDataException($"VMCOREINFO NUMBER({name})={value} is not a page type (page types are negative ints)");
    }

    /// <summary>OFFSET(<paramref name="key"/>) when exported, checked to lie in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    private static int? Offset(Vmcoreinfo vmcoreinfo, string key, int min, int max)
    {
        if (vmcoreinfo.Offset(key) is not ulong offset)
            return null;
        return offset >= (ulong)min && offset < (ulong)max ? (int)offset
            : throw new KernelDataException($"VMCOREINFO OFFSET({key})={offset} lies outside the struct pages it describes");
    }

    private static KernelDataException Missing(string name) => new($"the dump's VMCOREINFO has no NUMBER({name})");

    /// <summary>"6.12.117+deb12-amd64" → 6.12.</summary>
    internal static Version ParseRelease(string? release)
    {
        if (release is null)
            return new Version(0, 0);
        string[] parts = release.Split('.', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major))
            return new Version(0, 0);
        int digits = 0;
        while (digits < parts[1].Length && char.IsAsciiDigit(parts[1][digits]))
            digits++;
        return int.TryParse(parts[1].AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out int minor)
            ? new Version(major, minor) : new Version(major, 0);
    }
}
