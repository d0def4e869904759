using KdumpSharp.Filtering;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Filtering;

[TestFixture(KernelStyle.Linux61)]
[TestFixture(KernelStyle.Linux612)]
public sealed class PageClassifierTests(KernelStyle style)
{
    private const ulong P = 0x200; // first pfn the tests use; below it lie the builder's tables

    private MemMapBuilder _m = null!;

    [SetUp]
    public void Build()
    {
        _m = new MemMapBuilder(style);
        Assert.That(_m.FirstFreePfn, Is.LessThanOrEqualTo(P));
    }

    private PageClass[] ClassifyAll(out PageClassifier classifier)
    {
        classifier = _m.Classifier();
        var classes = new PageClass[_m.Pages];
        ulong next = 0;
        foreach (PageClassRun run in classifier.Classify())
        {
            Assert.That(run.Start.Value, Is.EqualTo(next), "runs cover the RAM in order, without gaps or overlaps");
            for (ulong pfn = run.Start.Value; pfn < run.End.Value; pfn++)
                classes[pfn] = run.Class;
            next = run.End.Value;
        }
        Assert.That(next, Is.EqualTo(_m.Pages));
        return classes;
    }

    private PageClass[] ClassifyAll() => ClassifyAll(out _);

    [Test]
    public void Untouched_struct_pages_are_kept()
    {
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(c.Distinct(), Is.EqualTo(new[] { PageClass.Kept }));
        Assert.That(classifier.MemMap.Sections, Has.Count.EqualTo(4));
        Assert.That(classifier.Statistics.MemMapReads, Is.EqualTo(_m.Pages / PageClassifier.BatchPages), "one read per block of 512 struct pages");
    }

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(10)]
    public void A_free_block_is_free_for_its_whole_order(int order)
    {
        ulong head = 0x400;
        _m.Buddy(head, order);
        PageClass[] c = ClassifyAll();
        for (ulong i = 0; i < 1UL << order; i++)
            Assert.That(c[head + i], Is.EqualTo(PageClass.Free), $"page {i} of the block");
        Assert.That(c[head + (1UL << order)], Is.EqualTo(PageClass.Kept));
        Assert.That(c[head - 1], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void Whole_free_blocks_give_the_same_runs_from_fewer_struct_pages()
    {
        _m.Buddy(0x400, 10);
        _m.Buddy(0x800, 3);
        _m.Anon(0x808);
        PageClassifier each = _m.Classifier();
        PageClassifier whole = PageClassifier.Create(_m.Virtual, _m.Vmcoreinfo.Build(), wholeFreeBlocks: true);
        Assert.That(whole.Classify().ToArray(), Is.EqualTo(each.Classify().ToArray()));
        Assert.That(whole.Classify(new PageFrameNumber(0x6ff), new PageFrameNumber(0x804)).ToArray(),
            Is.EqualTo(each.Classify(new PageFrameNumber(0x6ff), new PageFrameNumber(0x804)).ToArray()), "a window that starts inside a free block");
        // The order-10 block covers two blocks of 512 struct pages: the whole walk reads neither.
        Assert.That(each.Statistics.StructPagesRead - whole.Statistics.StructPagesRead, Is.GreaterThanOrEqualTo(2UL * PageClassifier.BatchPages));
    }

    [Test]
    public void Whole_free_blocks_do_not_look_for_poison_inside_them()
    {
        _m.Buddy(0x400, 3);
        _m.SetPage(0x402, flags: MemMapBuilder.Bit(_m.HwPoisonBit));
        Assert.That(ClassifyAll()[0x402], Is.EqualTo(PageClass.HwPoison), "page by page, PG_hwpoison is per page");
        PageClassifier whole = PageClassifier.Create(_m.Virtual, _m.Vmcoreinfo.Build(), wholeFreeBlocks: true);
        Assert.That(whole.Classify().Single(r => r.Start.Value <= 0x402 && 0x402 < r.End.Value),
            Is.EqualTo(new PageClassRun(new PageFrameNumber(0x400), 8, PageClass.Free)));
    }

    [TestCase(11, TestName = "{m}: order 11 is not below LENGTH(zone.free_area)")]
    [TestCase(2, TestName = "{m}: order 2 at a pfn not aligned to 4")]
    public void A_free_page_with_an_impossible_order_is_kept(int order)
    {
        ulong head = order == 2 ? 0x403UL : 0x800UL;
        _m.Buddy(head, order);
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(c[head], Is.EqualTo(PageClass.Kept));
        Assert.That(c[head + 1], Is.EqualTo(PageClass.Kept));
        Assert.That(classifier.Statistics.BadBuddyOrders, Is.EqualTo(1));
    }

    [Test]
    public void Page_cache_with_and_without_private_data()
    {
        _m.FileCache(P);
        _m.FileCache(P + 1, privateData: true);
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.Cache));
        Assert.That(c[P + 1], Is.EqualTo(PageClass.CachePrivate));
    }

    [Test]
    public void Swap_cache_counts_only_with_swapbacked()
    {
        // PG_swapcache is PG_owner_priv_1, which filesystems use as PG_checked: alone it means nothing.
        _m.SetPage(P, flags: MemMapBuilder.Bit(_m.SwapCacheBit) | MemMapBuilder.Bit(_m.SwapBackedBit), mapping: 0xffff_8880_0400_0000, mapCount: 0);
        _m.SetPage(P + 1, flags: MemMapBuilder.Bit(_m.SwapCacheBit), mapping: 0xffff_8880_0400_0000, mapCount: 0);
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.Cache));
        Assert.That(c[P + 1], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void Anonymous_and_ksm_pages_are_user_data_even_on_an_lru()
    {
        _m.Anon(P);
        _m.SetPage(P + 1, mapping: 0xffff_8880_0500_0003, mapCount: 0); // KSM: PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE
        _m.SetPage(P + 2, mapping: 0xffff_8880_0500_0002, mapCount: 0); // movable non-LRU (zsmalloc, balloon): not anonymous
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.User));
        Assert.That(c[P + 1], Is.EqualTo(PageClass.User));
        Assert.That(c[P + 2], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void Slab_pages_are_kept_even_when_their_fields_look_anonymous()
    {
        // Since 6.2 struct slab puts an int (slabs) where page.mapping is: an odd count looks like PAGE_MAPPING_ANON.
        _m.Slab(P, mapping: 0x1);
        _m.Slab(P + 1, mapping: 0xffff_8880_0600_0000 | 1);
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.Kept));
        Assert.That(c[P + 1], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void A_slab_compound_page_is_kept_whole()
    {
        ulong head = 0x408;
        _m.Compound(head, 3, headFlags: style == KernelStyle.Linux61 ? 1UL << 9 : 0, mapping: 0x1,
            headMapCount: style == KernelStyle.Linux61 ? -1 : unchecked((int)0xf500_0000));
        PageClass[] c = ClassifyAll();
        Assert.That(c.Skip((int)head).Take(8), Is.All.EqualTo(PageClass.Kept));
    }

    [TestCase(1)]
    [TestCase(4)]
    [TestCase(9)]
    public void An_anonymous_large_folio_is_user_data_to_its_last_tail(int order)
    {
        ulong head = 0x400;
        _m.Compound(head, order, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0200_0001);
        PageClass[] c = ClassifyAll();
        Assert.That(c.Skip((int)head).Take(1 << order), Is.All.EqualTo(PageClass.User));
        Assert.That(c[head + (1UL << order)], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void A_page_cache_large_folio_is_cache_whole()
    {
        ulong head = 0x404;
        _m.Compound(head, 2, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0300_0000);
        PageClass[] c = ClassifyAll();
        Assert.That(c.Skip((int)head).Take(4), Is.All.EqualTo(PageClass.Cache));
    }

    [Test]
    public void A_hugetlb_page_is_user_data_whole()
    {
        // hugetlbfs pages are not on an LRU and have a file mapping: only the era's hugetlb mark makes them user data.
        ulong head = 0x600;
        _m.Compound(head, 9, mapping: 0xffff_8880_0700_0000, hugetlb: true);
        _m.Compound(head + 0x200, 9, mapping: 0xffff_8880_0700_0000);
        PageClass[] c = ClassifyAll();
        Assert.That(c.Skip((int)head).Take(512), Is.All.EqualTo(PageClass.User));
        Assert.That(c.Skip((int)head + 512).Take(512), Is.All.EqualTo(PageClass.Kept));
    }

    [Test]
    public void A_compound_head_not_aligned_to_its_order_counts_alone()
    {
        ulong head = 0x402;
        _m.Compound(head, 3, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0200_0001);
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(c[head], Is.EqualTo(PageClass.User));
        Assert.That(c.Skip((int)head + 1).Take(7), Is.All.EqualTo(PageClass.Kept), "tails whose head does not cover them are kept");
        Assert.That(classifier.Statistics.BadCompoundOrders, Is.EqualTo(1));
        Assert.That(classifier.Statistics.OrphanTails, Is.EqualTo(7));
    }

    [Test]
    public void A_page_in_a_heads_range_that_does_not_point_back_is_classed_on_its_own()
    {
        ulong head = 0x400;
        _m.Compound(head, 2, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0200_0001);
        _m.FileCache(head + 2);
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(new[] { c[head], c[head + 1], c[head + 2], c[head + 3] },
            Is.EqualTo(new[] { PageClass.User, PageClass.User, PageClass.Cache, PageClass.User }));
        Assert.That(classifier.Statistics.ForeignPagesInCompound, Is.EqualTo(1));
    }

    [Test]
    public void Hardware_poisoned_pages_go_alone_or_with_their_compound_page()
    {
        _m.SetPage(P, flags: MemMapBuilder.Bit(_m.HwPoisonBit));
        _m.Compound(0x400, 2, headFlags: MemMapBuilder.Bit(_m.HwPoisonBit));
        _m.Compound(0x408, 3, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0200_0001);
        _m.SetPage(0x40a, flags: MemMapBuilder.Bit(_m.HwPoisonBit), compoundHead: _m.StructPageAddress(0x408) | 1);
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.HwPoison));
        Assert.That(c.Skip(0x400).Take(4), Is.All.EqualTo(PageClass.HwPoison));
        Assert.That(c.Skip(0x408).Take(8), Is.EqualTo(new[]
        {
            PageClass.User, PageClass.User, PageClass.HwPoison, PageClass.User, PageClass.User, PageClass.User, PageClass.User, PageClass.User,
        }), "a poisoned subpage of an anonymous folio");
    }

    [Test]
    public void Offline_pages_are_offline()
    {
        _m.Offline(P);
        PageClass[] c = ClassifyAll();
        Assert.That(c[P], Is.EqualTo(PageClass.Offline));
    }

    [Test]
    public void A_window_that_starts_inside_a_free_block_or_a_folio_finds_its_head()
    {
        _m.Buddy(0x400, 10);
        // Order 11 is larger than the walk's look-back (the largest free block), as a 1 GiB hugetlb page is.
        _m.Compound(0x800, 11, headFlags: MemMapBuilder.Bit(_m.LruBit), mapping: 0xffff_8880_0200_0001);
        PageClassifier classifier = _m.Classifier();

        Assert.That(classifier.Classify(new PageFrameNumber(0x6ff), new PageFrameNumber(0x701)),
            Is.EqualTo(new[] { new PageClassRun(new PageFrameNumber(0x6ff), 2, PageClass.Free) }));
        Assert.That(classifier.Classify(new PageFrameNumber(0xc00), new PageFrameNumber(0xc10)),
            Is.EqualTo(new[] { new PageClassRun(new PageFrameNumber(0xc00), 0x10, PageClass.User) }));
        Assert.That(classifier.Statistics.OrphanTails, Is.Zero);
        Assert.That(classifier.Classify(new PageFrameNumber(0xff0), new PageFrameNumber(0x1000)),
            Is.EqualTo(new[] { new PageClassRun(new PageFrameNumber(0xff0), 0x10, PageClass.User) }));
    }

    [Test]
    public void A_struct_page_missing_from_the_dump_makes_its_pages_unknown()
    {
        _m.Anon(0x400);
        _m.Anon(0x440);
        _m.Physical.SetState(new PhysicalAddress(_m.StructPagePhysical(0x400)).Frame, PageState.Excluded);
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(c.Skip(0x400).Take(64), Is.All.EqualTo(PageClass.Unknown), "one 4 KiB page of mem_map holds 64 struct pages");
        Assert.That(c[0x440], Is.EqualTo(PageClass.User));
        Assert.That(classifier.Statistics.MissingStructPages, Is.EqualTo(64));
    }

    [Test]
    public void A_section_without_mem_map_makes_its_pages_unknown()
    {
        _m.SetSectionMemMap(2, 0);
        PageClass[] c = ClassifyAll(out PageClassifier classifier);
        Assert.That(classifier.MemMap.Sections.Select(s => s.Number), Is.EqualTo(new ulong[] { 0, 1, 3 }));
        Assert.That(c.Skip(2048).Take(1024), Is.All.EqualTo(PageClass.Unknown));
        Assert.That(c[2047], Is.EqualTo(PageClass.Kept));
    }

    [Test]
    public void Counts_and_levels_agree_with_makedumpfiles_classes()
    {
        _m.Buddy(0x400, 2);
        _m.FileCache(P);
        _m.FileCache(P + 1, privateData: true);
        _m.Anon(P + 2);
        _m.Offline(P + 3);
        PageClassCounts counts = _m.Classifier().Count();
        Assert.That((counts[PageClass.Free], counts[PageClass.Cache], counts[PageClass.CachePrivate], counts[PageClass.User], counts[PageClass.Offline]),
            Is.EqualTo((4UL, 1UL, 1UL, 1UL, 1UL)));
        Assert.That(counts.Total, Is.EqualTo(_m.Pages));
        Assert.That(counts.Excluded(DumpLevel.None), Is.EqualTo(1), "offline pages go at every level");
        Assert.That(counts.Excluded(DumpLevel.Cache), Is.EqualTo(2));
        Assert.That(counts.Excluded(DumpLevel.CachePrivate), Is.EqualTo(3));
        Assert.That(counts.Excluded((DumpLevel)30), Is.EqualTo(8));
    }
}
