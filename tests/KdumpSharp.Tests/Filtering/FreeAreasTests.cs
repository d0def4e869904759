using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Filtering;

public sealed class FreeAreasTests
{
    [Test]
    public void Zone_counters_and_free_lists_match_the_blocks_marked_free()
    {
        var m = new MemMapBuilder(KernelStyle.Linux612);
        (ulong, int, int)[] blocks = [(0x400, 10, 2), (0x800, 0, 0), (0x802, 1, 0), (0x804, 1, 1), (0x808, 3, 1)];
        foreach ((ulong pfn, int order, _) in blocks)
            m.Buddy(pfn, order);
        m.AddZone(blocks, freePagesCounterDelta: -3);
        var vmcoreinfo = m.Vmcoreinfo.Build();
        PageClassifier classifier = PageClassifier.Create(m.Virtual, vmcoreinfo);

        ZoneFreeArea zone = FreeAreas.Read(m.Virtual, vmcoreinfo).Single();
        Assert.That((zone.Node, zone.Zone, zone.SpannedPages), Is.EqualTo((0, 0, 4096UL)));
        Assert.That(zone.FreeBlocks, Is.EqualTo(new ulong[] { 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 1 }));
        Assert.That(zone.FreePages, Is.EqualTo(1024 + 1 + 4 + 8));
        Assert.That(zone.FreePagesCounter, Is.EqualTo(1024 + 1 + 4 + 8 - 3));
        Assert.That(classifier.Count()[PageClass.Free], Is.EqualTo(zone.FreePages));

        FreeListWalk walk = FreeAreas.WalkFreeLists(m.Virtual, vmcoreinfo, classifier.MemMap, zone, 1000);
        Assert.That(walk.Problems, Is.Empty);
        Assert.That(walk.Blocks.Select(b => (b.Start.Value, b.Order, b.MigrateType)), Is.EquivalentTo(blocks));
    }

    [Test]
    public void A_looping_free_list_stops_at_the_cap()
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        m.Buddy(0x800, 0);
        m.Buddy(0x801, 0);
        m.AddZone([(0x800, 0, 0), (0x801, 0, 0)]);
        // 0x801's next points back to 0x800: a cycle that never reaches the list head.
        m.WriteUInt64(m.StructPagePhysical(0x801) + MemMapBuilder.LruOffset, m.StructPageAddress(0x800) + MemMapBuilder.LruOffset);
        FreeListWalk walk = Walk(m, 100);
        Assert.That(walk.Blocks, Has.Count.EqualTo(100));
        Assert.That(walk.Problems, Is.EqualTo(new[] { "node 0 zone 0 order 0 type 0: stopped after 100 blocks in all" }));
    }

    [Test]
    public void A_wild_free_list_pointer_ends_that_list_only()
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        m.Buddy(0x802, 1);
        ulong zone = m.AddZone([(0x802, 1, 0)]);
        m.WriteUInt64(zone + 256 + 16, 0xffff_c900_0000_0000); // order 0, migrate type 1: not a struct page
        m.WriteUInt64(zone + 256 + 32, m.StructPageAddress(0x900) + MemMapBuilder.LruOffset); // type 2: a page whose struct page is not in the dump
        m.Physical.SetState(new KdumpSharp.Memory.PhysicalAddress(m.StructPagePhysical(0x900)).Frame, KdumpSharp.Memory.PageState.Excluded);
        FreeListWalk walk = Walk(m, 100);
        Assert.That(walk.Blocks.Select(b => (b.Start.Value, b.Order)), Is.EquivalentTo(new[] { (0x802UL, 1), (0x900UL, 0) }));
        Assert.That(walk.Problems, Has.Count.EqualTo(2));
        Assert.That(walk.Problems[0], Does.StartWith("node 0 zone 0 order 0 type 1: 0xffffc90000000000 is not the lru of a struct page"));
        Assert.That(walk.Problems[1], Does.StartWith("node 0 zone 0 order 0 type 2: virtual address"));
    }

    private static FreeListWalk Walk(MemMapBuilder m, long maxBlocks)
    {
        var vmcoreinfo = m.Vmcoreinfo.Build();
        PageClassifier classifier = PageClassifier.Create(m.Virtual, vmcoreinfo);
        return FreeAreas.WalkFreeLists(m.Virtual, vmcoreinfo, classifier.MemMap, FreeAreas.Read(m.Virtual, vmcoreinfo).Single(), maxBlocks);
    }

    [Test]
    public void Missing_zone_keys_are_named()
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        m.AddZone([]);
        m.Vmcoreinfo.Remove("LENGTH(free_area.free_list)");
        Assert.That(() => FreeAreas.Read(m.Virtual, m.Vmcoreinfo.Build()), Throws.TypeOf<KernelDataException>().With.Message.Contains("LENGTH(free_area.free_list)"));
        m.Vmcoreinfo.Length("free_area.free_list", 5).Size("free_area", 96);
        Assert.That(() => FreeAreas.Read(m.Virtual, m.Vmcoreinfo.Build()), Throws.TypeOf<KernelDataException>().With.Message.Contains("is not the free lists plus nr_free"));
    }
}
