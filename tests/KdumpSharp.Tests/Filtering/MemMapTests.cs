using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Filtering;

public sealed class MemMapTests
{
    [Test]
    public void Sections_decode_the_biased_mem_map_pointer()
    {
        var m = new MemMapBuilder(KernelStyle.Linux612);
        MemMap map = MemMap.Open(m.Virtual, m.Vmcoreinfo.Build());
        Assert.That(map.Source, Is.EqualTo("mem_section"));
        Assert.That(map.PagesPerSection, Is.EqualTo(1024));
        Assert.That(map.Sections[3], Is.EqualTo(new MemMapSection(3, new PageFrameNumber(3072), 1024, m.StructPageAddress(3072))));
        Assert.That(map.TryGetStructPageAddress(new PageFrameNumber(0xabc), out ulong address) && address == m.StructPageAddress(0xabc));
        Assert.That(map.TryGetFrame(m.StructPageAddress(0xabc), out PageFrameNumber pfn) && pfn.Value == 0xabc);
        Assert.That(map.TryGetFrame(m.StructPageAddress(0xabc) + 8, out _), Is.False, "inside a struct page, not at its start");
        Assert.That(map.TryGetStructPageAddress(new PageFrameNumber(4096), out _), Is.False, "beyond the RAM");
    }

    [Test]
    public void Without_mem_section_the_vmemmap_base_places_every_struct_page()
    {
        var m = new MemMapBuilder(KernelStyle.Linux612);
        m.Vmcoreinfo.Remove("SYMBOL(mem_section)").Symbol("vmemmap", MemMapBuilder.DirectMap + MemMapBuilder.MemMapBase);
        m.Anon(0x300);
        MemMap map = MemMap.Open(m.Virtual, m.Vmcoreinfo.Build());
        Assert.That(map.Source, Is.EqualTo("vmemmap"));
        Assert.That(map.Sections, Has.Count.EqualTo(4));
        Assert.That(map.ReadStructPage(new PageFrameNumber(0x300))?.Mapping, Is.EqualTo(0xffff_8880_0200_0001));
    }

    [Test]
    public void Batches_mark_exactly_the_struct_pages_the_dump_lacks()
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        m.Physical.SetState(new PhysicalAddress(m.StructPagePhysical(64)).Frame, PageState.Excluded);
        MemMap map = MemMap.Open(m.Virtual, m.Vmcoreinfo.Build());
        byte[] bytes = new byte[512 * 64];
        bool[] readable = new bool[512];
        Assert.That(map.ReadStructPages(new PageFrameNumber(0), 512, bytes, readable), Is.EqualTo(448));
        Assert.That(readable.Select((r, i) => (r, i)).Where(x => !x.r).Select(x => x.i), Is.EqualTo(Enumerable.Range(64, 64)));
        Assert.That(() => map.ReadStructPages(new PageFrameNumber(1000), 48, bytes, readable), Throws.TypeOf<ArgumentOutOfRangeException>(), "crosses a section");
    }

    [Test]
    public void A_read_that_starts_inside_a_page_marks_only_the_struct_pages_of_the_missing_page()
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        m.SetPage(30, mapping: 0x30);
        m.SetPage(129, mapping: 0x129);
        m.Physical.SetState(new PhysicalAddress(m.StructPagePhysical(64)).Frame, PageState.Excluded);
        MemMap map = MemMap.Open(m.Virtual, m.Vmcoreinfo.Build());
        byte[] bytes = new byte[100 * 64];
        bool[] readable = new bool[100];
        // Pfns 30..129: their struct pages start 1920 bytes into one mem_map page and run over two more,
        // the middle one (pfns 64..127) missing; one contiguous read covers all three.
        Assert.That(map.ReadStructPages(new PageFrameNumber(30), 100, bytes, readable), Is.EqualTo(36));
        Assert.That(readable.Select((r, i) => (r, i)).Where(x => !x.r).Select(x => x.i + 30), Is.EqualTo(Enumerable.Range(64, 64)));
        Assert.That(map.Layout.Read(bytes).Mapping, Is.EqualTo(0x30), "first struct page, mid-page");
        Assert.That(map.Layout.Read(bytes.AsSpan(99 * 64)).Mapping, Is.EqualTo(0x129), "last struct page, after the missing page");
    }

    [TestCase("SYMBOL(mem_section)", null, "neither SYMBOL(mem_section) nor SYMBOL(vmemmap)")]
    [TestCase("NUMBER(SECTION_SIZE_BITS)", "11", "is not a section size")]
    [TestCase("NUMBER(MAX_PHYSMEM_BITS)", "20", "is not a physical address width")]
    [TestCase("SYMBOL(mem_section)", "ffffc90000000000", "cannot be read")]
    public void A_section_table_that_cannot_be_used_is_named(string key, string? value, string message)
    {
        var m = new MemMapBuilder(KernelStyle.Linux61);
        if (value is null)
            m.Vmcoreinfo.Remove(key);
        else
            m.Vmcoreinfo.Set(key, value);
        Assert.That(() => MemMap.Open(m.Virtual, m.Vmcoreinfo.Build()), Throws.TypeOf<KernelDataException>().With.Message.Contains(message));
    }
}
