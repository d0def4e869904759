using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>
/// What a page of the crashed machine held, as far as a dump level cares (makedumpfile's classes in
/// __exclude_unnecessary_pages, decided from the page's struct page as the kernel itself defines it).
/// </summary>
public enum PageClass : byte
{
    /// <summary>Kernel memory, or a page no class claims: slab, page tables, kernel stacks, code, reserved.</summary>
    Kept,

    /// <summary>No struct page could be read for this frame (its mem_map is missing from the dump or its
    /// section has none). Kept: nothing shows that it may go.</summary>
    Unknown,

    /// <summary>A page whose bytes are all zero. Never produced by <see cref="PageClassifier"/>: this is a
    /// content test the writer makes (<see cref="ZeroPage.IsZero"/>) on pages it keeps.</summary>
    Zero,

    /// <summary>Page cache or swap cache without private data (PG_lru, or PG_swapcache with PG_swapbacked; not anonymous; no PG_private).</summary>
    Cache,

    /// <summary>Page cache or swap cache with private data (PG_private, e.g. buffer heads).</summary>
    CachePrivate,

    /// <summary>User data: anonymous memory (mapping with PAGE_MAPPING_ANON) or a hugetlbfs page.</summary>
    User,

    /// <summary>Free in the buddy allocator (or unaccepted memory, which is free by definition).</summary>
    Free,

    /// <summary>Marked hardware-poisoned (PG_hwpoison): excluded at every level.</summary>
    HwPoison,

    /// <summary>Logically offline (PageOffline: balloon-inflated or hot-unplugged): excluded at every level.</summary>
    Offline,
}

/// <summary>
/// Consecutive page frames of one class: [<see cref="Start"/>, <see cref="Start"/> + <see cref="Count"/>).
/// A run never crosses a hole in the dump's memory.
/// </summary>
public readonly record struct PageClassRun(PageFrameNumber Start, ulong Count, PageClass Class)
{
    public PageFrameNumber End => Start + Count;

    public override string ToString() => $"[0x{Start.Value:x}, 0x{End.Value:x}) {Class}";
}

/// <summary>Page counts per class.</summary>
public sealed class PageClassCounts
{
    private static readonly PageClass[] All = Enum.GetValues<PageClass>();
    private readonly ulong[] _counts = new ulong[All.Length];

    public ulong this[PageClass pageClass] => _counts[(int)pageClass];

    /// <summary>Every page counted.</summary>
    public ulong Total => _counts.Aggregate(0UL, (sum, n) => sum + n);

    public void Add(PageClass pageClass, ulong count) => _counts[(int)pageClass] += count;

    public void Add(PageClassRun run) => Add(run.Class, run.Count);

    /// <summary>Pages <paramref name="level"/> leaves out.</summary>
    public ulong Excluded(DumpLevel level) => All.Where(c => level.Excludes(c)).Aggregate(0UL, (sum, c) => sum + this[c]);

    public static PageClassCounts Of(IEnumerable<PageClassRun> runs)
    {
        var counts = new PageClassCounts();
        foreach (PageClassRun run in runs)
            counts.Add(run);
        return counts;
    }

    public override string ToString() => string.Join(", ", All.Where(c => this[c] != 0).Select(c => $"{c} {this[c]}"));
}
