namespace KdumpSharp.Filtering;

/// <summary>
/// What a dump leaves out, as makedumpfile's <c>-d</c> bits (makedumpfile.h DL_EXCLUDE_*; man
/// makedumpfile): the same numbers mean the same thing to our capture tool, so a dump level read
/// from a kdump-compressed header or a kdump.conf line needs no translation.
/// </summary>
[Flags]
public enum DumpLevel
{
    /// <summary>Keep every page (-d 0).</summary>
    None = 0,

    /// <summary>Pages whose bytes are all zero. A content test, made by the writer as it copies pages.</summary>
    Zero = 1,

    /// <summary>Page cache and swap cache pages without private data (no PG_private).</summary>
    Cache = 2,

    /// <summary>All page cache and swap cache pages, with or without private data.</summary>
    CachePrivate = 4,

    /// <summary>User process data: anonymous pages and hugetlbfs pages.</summary>
    User = 8,

    /// <summary>Pages free in the buddy allocator.</summary>
    Free = 16,

    /// <summary>Everything that can go (-d 31).</summary>
    All = Zero | Cache | CachePrivate | User | Free,
}

/// <summary>Dump levels as makedumpfile writes and parses them.</summary>
public static class DumpLevels
{
    /// <summary>makedumpfile's highest level.</summary>
    public const int Max = (int)DumpLevel.All;

    /// <summary>The level for a <c>-d N</c> value; throws <see cref="ArgumentOutOfRangeException"/> outside 0–31.</summary>
    public static DumpLevel FromNumber(int level) =>
        level is >= 0 and <= Max ? (DumpLevel)level : throw new ArgumentOutOfRangeException(nameof(level), level, "a dump level is 0 to 31");

    /// <summary>
    /// Whether a page of <paramref name="pageClass"/> is left out at <paramref name="level"/>. Cache pages
    /// without private data go at level 2 or 4 (4 means "cache, private or not"); hardware-poisoned and
    /// offline pages go at every level, as makedumpfile always drops them (reading a poisoned page can
    /// stop the machine; an offline page may belong to the hypervisor). Kept and unknown pages never go.
    /// </summary>
    public static bool Excludes(this DumpLevel level, PageClass pageClass) => pageClass switch
    {
        PageClass.Zero => (level & DumpLevel.Zero) != 0,
        PageClass.Cache => (level & (DumpLevel.Cache | DumpLevel.CachePrivate)) != 0,
        PageClass.CachePrivate => (level & DumpLevel.CachePrivate) != 0,
        PageClass.User => (level & DumpLevel.User) != 0,
        PageClass.Free => (level & DumpLevel.Free) != 0,
        PageClass.HwPoison or PageClass.Offline => true,
        _ => false,
    };

    /// <summary>
    /// Whether <paramref name="level"/> keeps any user, page-cache or free page: the bulk of a dump that
    /// keeps them, and where memory holds the same data many times over. Levels that drop all four
    /// (31 and 30 among them) keep only the kernel's own pages.
    /// </summary>
    public static bool KeepsBulkMemory(this DumpLevel level) =>
        !(level.Excludes(PageClass.Cache) && level.Excludes(PageClass.CachePrivate) && level.Excludes(PageClass.User) && level.Excludes(PageClass.Free));
}
