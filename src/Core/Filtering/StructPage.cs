using System.Buffers.Binary;
using KdumpSharp.Kernel;

namespace KdumpSharp.Filtering;

/// <summary>
/// Where the fields the filter reads lie in the crashed kernel's struct page (include/linux/mm_types.h),
/// from VMCOREINFO: SIZE(page) and OFFSET(page.flags|_mapcount|mapping|private|compound_head|lru|_refcount).
/// Every field is checked to lie inside SIZE(page), so slicing a copied struct page cannot overrun.
/// </summary>
public sealed class StructPageLayout
{
    private StructPageLayout(int size, int flags, int mapping, int mapCount, int privateData, int compoundHead, int? refCount, int? lru)
    {
        Size = size;
        Flags = flags;
        Mapping = mapping;
        MapCount = mapCount;
        Private = privateData;
        CompoundHead = compoundHead;
        RefCount = refCount;
        Lru = lru;
    }

    /// <summary>SIZE(page).</summary>
    public int Size { get; }

    /// <summary>OFFSET(page.flags): unsigned long.</summary>
    public int Flags { get; }

    /// <summary>OFFSET(page.mapping): a pointer whose bit 0 (PAGE_MAPPING_ANON) marks anonymous memory.</summary>
    public int Mapping { get; }

    /// <summary>OFFSET(page._mapcount): an int that holds the page type (page_type shares it) on typed pages.</summary>
    public int MapCount { get; }

    /// <summary>OFFSET(page.private): the buddy order on a free page.</summary>
    public int Private { get; }

    /// <summary>OFFSET(page.compound_head) (page.compound_info from 7.1): the head's address plus 1 on a tail page.</summary>
    public int CompoundHead { get; }

    /// <summary>OFFSET(page._refcount), when exported (page._count before 4.6); shown in diagnostics only.</summary>
    public int? RefCount { get; }

    /// <summary>OFFSET(page.lru), when exported: buddy free lists link pages through it.</summary>
    public int? Lru { get; }

    public static StructPageLayout FromVmcoreinfo(Vmcoreinfo vmcoreinfo)
    {
        StructLayout page = StructLayout.Of(vmcoreinfo, "page");
        string compoundHead = vmcoreinfo.Offset("page.compound_head") is not null ? "compound_head"
            : vmcoreinfo.Offset("page.compound_info") is not null ? "compound_info" : "compound_head";
        return new StructPageLayout(
            page.Size,
            page.Field("flags", sizeof(ulong)),
            page.Field("mapping", sizeof(ulong)),
            page.Field("_mapcount", sizeof(int)),
            page.Field("private", sizeof(ulong)),
            page.Field(compoundHead, sizeof(ulong)),
            Optional(vmcoreinfo, page, "_refcount", sizeof(int)) ?? Optional(vmcoreinfo, page, "_count", sizeof(int)),
            Optional(vmcoreinfo, page, "lru", 2 * sizeof(ulong)));
    }

    /// <summary>Decodes the struct page at the start of <paramref name="bytes"/> (at least <see cref="Size"/> bytes).</summary>
    public StructPage Read(ReadOnlySpan<byte> bytes)
    {
        bytes = bytes[..Size];
        return new StructPage(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[Flags..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[Mapping..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[MapCount..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[Private..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[CompoundHead..]),
            RefCount is int r ? BinaryPrimitives.ReadInt32LittleEndian(bytes[r..]) : null);
    }

    private static int? Optional(Vmcoreinfo vmcoreinfo, StructLayout page, string field, int width) =>
        vmcoreinfo.Offset($"page.{field}") is null ? null : page.Field(field, width);
}

/// <summary>The fields of one struct page the filter reads, raw.</summary>
/// <param name="Flags">page.flags: PG_* bits low, zone/node/section numbers high.</param>
/// <param name="Mapping">page.mapping.</param>
/// <param name="MapCount">page._mapcount as stored (the page type on typed pages; -1 on an unmapped untyped page).</param>
/// <param name="Private">page.private.</param>
/// <param name="CompoundHead">page.compound_head: bit 0 set on a tail page.</param>
/// <param name="RefCount">page._refcount, when its offset is known.</param>
public readonly record struct StructPage(ulong Flags, ulong Mapping, uint MapCount, ulong Private, ulong CompoundHead, int? RefCount)
{
    /// <summary>A tail page of a compound page (folio): compound_head holds the head's address plus 1.</summary>
    public bool IsTail => (CompoundHead & 1) != 0;

    /// <summary>The head's struct page address on a tail page.</summary>
    public ulong HeadAddress => CompoundHead & ~1UL;

    public override string ToString() =>
        $"flags=0x{Flags:x} _mapcount=0x{MapCount:x8} ({(int)MapCount}) mapping=0x{Mapping:x} private=0x{Private:x} " +
        $"compound_head=0x{CompoundHead:x}{(RefCount is int r ? $" _refcount={r}" : "")}";
}
