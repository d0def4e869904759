using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Filtering;

public sealed class KernelPageRulesTests
{
    [TestCase(-129, PageTypeEncoding.ClearedBit, TestName = "6.1 buddy ~0x80")]
    [TestCase(-257, PageTypeEncoding.ClearedBit, TestName = "6.1 offline ~0x100")]
    [TestCase(-268435456, PageTypeEncoding.TopByte, TestName = "6.12 buddy PGTY_buddy << 24")]
    [TestCase(-184549376, PageTypeEncoding.TopByte, TestName = "6.12 slab PGTY_slab << 24")]
    [TestCase(-128, PageTypeEncoding.Exact, TestName = "4.17 buddy -128")]
    [TestCase(~0x40000000, PageTypeEncoding.ClearedBit, TestName = "6.11 buddy ~0x40000000")]
    public void The_exported_value_tells_the_encoding(int value, PageTypeEncoding encoding) =>
        Assert.That(new PageTypeTest(value).Encoding, Is.EqualTo(encoding));

    /// <summary>The classifier's shortcut trusts this: a type that says only values below -1 can match must
    /// match no unmapped (-1) or mapped (0 and up) page, whatever its encoding.</summary>
    [TestCase(-129)]
    [TestCase(-257)]
    [TestCase(~0x40000000)]
    [TestCase(-268435456)]
    [TestCase(-184549376)]
    [TestCase(-16777216, TestName = "top byte 0xff: can match -1")]
    [TestCase(-128)]
    [TestCase(-1, TestName = "exact -1: can match -1")]
    [TestCase(-2)]
    public void Only_below_minus_one_means_no_map_count_matches(int value)
    {
        var type = new PageTypeTest(value);
        uint[] mapCounts = [uint.MaxValue, 0, 1, 2, 0x7f, 0x80, 0xffff, 0x00ff_ffff, 0x7fff_ffff, 0x1234_5678];
        bool anyMatches = mapCounts.Any(type.Matches);
        Assert.That(type.MatchesOnlyBelowMinusOne, Is.EqualTo(!anyMatches));
        if (type.MatchesOnlyBelowMinusOne)
            Assert.That(type.Matches(unchecked((uint)value)), Is.True, "the type still matches itself");
    }

    [Test]
    public void Cleared_bit_types_test_the_bit_under_the_type_base()
    {
        var buddy = new PageTypeTest(~0x80);
        Assert.That(buddy.Matches(unchecked((uint)~0x80)), Is.True);
        Assert.That(buddy.Matches(unchecked((uint)-1)), Is.False, "an untyped page (_mapcount -1)");
        Assert.That(buddy.Matches(0), Is.False, "a page mapped once");
        Assert.That(buddy.Matches(0x7fff_ff7f), Is.False, "PAGE_TYPE_BASE bits must be set");
        Assert.That(buddy.Matches(unchecked((uint)~0x100)), Is.False, "offline, not buddy");
    }

    [Test]
    public void Top_byte_types_ignore_the_owner_bits()
    {
        var slab = new PageTypeTest(unchecked((int)0xf500_0000));
        Assert.That(slab.Matches(0xf500_0000), Is.True);
        Assert.That(slab.Matches(0xf500_1234), Is.True, "the low 24 bits belong to the owner (zsmalloc uses them)");
        Assert.That(slab.Matches(0xf000_0000), Is.False);
        Assert.That(slab.Matches(uint.MaxValue), Is.False);
    }

    [Test]
    public void Exact_types_compare_the_whole_value()
    {
        var buddy = new PageTypeTest(-128);
        Assert.That(buddy.Matches(unchecked((uint)-128)), Is.True);
        Assert.That(buddy.Matches(unchecked((uint)-129)), Is.False);
    }

    [Test]
    public void Each_era_finds_its_compound_order_and_hugetlb_mark()
    {
        KernelPageRules v61 = Rules(new MemMapBuilder(KernelStyle.Linux61).Vmcoreinfo);
        Assert.That((v61.CompoundOrder, v61.CompoundOrderOffset, v61.Hugetlb, v61.HugetlbDestructorOffset, v61.SlabBit),
            Is.EqualTo((CompoundOrderSource.SecondPageField, 64 + 17, HugetlbSource.Destructor, 64 + 16, (int?)9)));
        KernelPageRules v612 = Rules(new MemMapBuilder(KernelStyle.Linux612).Vmcoreinfo);
        Assert.That((v612.CompoundOrder, v612.CompoundOrderOffset, v612.Hugetlb, v612.SlabBit, v612.SlabType?.Encoding),
            Is.EqualTo((CompoundOrderSource.SecondPageFlagsLowByte, 64, HugetlbSource.PageType, (int?)null, (PageTypeEncoding?)PageTypeEncoding.TopByte)));

        // 6.6-6.8: PG_hugetlb in page[1].flags, order in its low byte; 6.3-6.5: folio fields.
        VmcoreinfoBuilder v66 = new MemMapBuilder(KernelStyle.Linux612).Vmcoreinfo.Remove("NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)").Number("PG_hugetlb", 23)
            .Set("OSRELEASE", "6.6.0");
        Assert.That((Rules(v66).CompoundOrder, Rules(v66).Hugetlb, Rules(v66).HugetlbBit),
            Is.EqualTo((CompoundOrderSource.SecondPageFlagsLowByte, HugetlbSource.SecondPageFlag, 23)));
        VmcoreinfoBuilder v63 = new MemMapBuilder(KernelStyle.Linux61).Vmcoreinfo.Remove("OFFSET(page.compound_order)").Remove("OFFSET(page.compound_dtor)")
            .Offset("folio._folio_order", 89).Offset("folio._folio_dtor", 88).Set("OSRELEASE", "6.3.0");
        Assert.That((Rules(v63).CompoundOrder, Rules(v63).CompoundOrderOffset, Rules(v63).Hugetlb, Rules(v63).HugetlbDestructorOffset),
            Is.EqualTo((CompoundOrderSource.FolioField, 89, HugetlbSource.Destructor, 88)));
    }

    [TestCase("NUMBER(PG_lru)", null, "has no NUMBER(PG_lru)")]
    [TestCase("NUMBER(PG_private)", "64", "NUMBER(PG_private)=64 is not a bit of page.flags")]
    [TestCase("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "128", "is not a page type")]
    [TestCase("NUMBER(PG_head_mask)", "0", "marks no page as a compound head")]
    [TestCase("OFFSET(page.compound_order)", "64", "lies outside the struct pages")]
    [TestCase("OFFSET(page._mapcount)", "62", "outside SIZE(page)=64")]
    [TestCase("SIZE(page)", null, "has no SIZE(page)")]
    public void Missing_or_impossible_keys_are_named(string key, string? value, string message)
    {
        VmcoreinfoBuilder info = new MemMapBuilder(KernelStyle.Linux61).Vmcoreinfo;
        if (value is null)
            info.Remove(key);
        else
            info.Set(key, value);
        Assert.That(() => Rules(info), Throws.TypeOf<KernelDataException>().With.Message.Contains(message));
    }

    [TestCase("6.12.117+deb12-amd64", 6, 12)]
    [TestCase("6.1.0-56-amd64", 6, 1)]
    [TestCase("5.4.0", 5, 4)]
    [TestCase("7.0-rc1", 7, 0)]
    [TestCase("nonsense", 0, 0)]
    public void Release_versions_parse(string release, int major, int minor) =>
        Assert.That(KernelPageRules.ParseRelease(release), Is.EqualTo(new Version(major, minor)));

    private static KernelPageRules Rules(VmcoreinfoBuilder info)
    {
        Vmcoreinfo v = info.Build();
        return KernelPageRules.FromVmcoreinfo(v, StructPageLayout.FromVmcoreinfo(v));
    }
}
