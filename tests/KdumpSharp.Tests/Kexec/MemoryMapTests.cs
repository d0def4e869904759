using KdumpSharp.Kexec;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kexec;

public class MemoryMapTests
{
    private static PhysicalRange R(ulong start, ulong endExclusive) => new(new(start), new(endExclusive));

    [Test]
    public void Iomem_keeps_nesting_and_inclusive_ends()
    {
        Iomem iomem = Iomem.Parse("iomem", SampleSystem.Iomem);
        Assert.That(iomem.TopLevel, Has.Count.EqualTo(15));
        IomemResource ram = iomem.TopLevel.Single(r => r.Range.Start.Value == 0x100000);
        Assert.That(ram.Name, Is.EqualTo("System RAM"));
        Assert.That(ram.Range.End.Value, Is.EqualTo(0x7ffdf000));
        Assert.That(ram.Children.Select(c => c.Name), Is.EqualTo(new[] { "Kernel code", "Kernel rodata", "Kernel data", "Kernel bss", "Crash kernel" }));
        Assert.That(iomem.Find("Crash kernel"), Is.EqualTo(new[] { R(0x6f000000, 0x7f000000) }));
        Assert.That(iomem.Find("Reserved"), Has.Count.EqualTo(6), "nested Reserved under MMCONFIG is found too");
        Assert.That(iomem.TopLevel.Last().Range, Is.EqualTo(R(0x100000000, 0x180000000)));
    }

    [TestCase("00000000-00000000 : System RAM\n00000000-00000000 : Reserved\n", "every range reads as 0")]
    [TestCase("00001000-0009fbff System RAM\n", "line 1 is not")]
    [TestCase("00001000-0009fbff : System RAM\n      00002000-00002fff : deep\n", "line 2 is nested two levels")]
    [TestCase("0009fbff-00001000 : System RAM\n", "line 1 is not")]
    [TestCase("00001000-zzzz : System RAM\n", "line 1 is not")]
    [TestCase(" 00001000-00001fff : odd indent\n", "line 1 is not")]
    public void Bad_iomem_is_refused_with_the_line(string text, string expected)
    {
        var e = Assert.Throws<KexecException>(() => Iomem.Parse("/proc/iomem", text));
        Assert.That(e!.Message, Does.StartWith("/proc/iomem: ").And.Contain(expected).And.Not.Contain("\n"));
    }

    [Test]
    public void Firmware_memmap_is_read_in_address_order_with_e820_types()
    {
        using TempDirectory dir = SampleSystem.Create();
        E820Map map = new RunningSystem(dir.Path).ReadNormalMemoryMap();
        Assert.That(map.Entries, Has.Count.EqualTo(SampleSystem.Memmap.Length));
        for (int i = 0; i < SampleSystem.Memmap.Length; i++)
        {
            (ulong start, ulong end, string type) = SampleSystem.Memmap[i];
            Assert.That(map.Entries[i].Range, Is.EqualTo(R(start, end + 1)), $"entry {i}");
            Assert.That(map.Entries[i].Type, Is.EqualTo(E820Entry.TypeFromName(type)), $"entry {i}");
        }
        Assert.That(map.Entries[5].Type, Is.EqualTo(E820Type.Acpi));
        Assert.That(map.Entries[4].Type, Is.EqualTo(E820Type.Nvs));
    }

    [Test]
    public void Without_firmware_memmap_the_iomem_top_level_is_used()
    {
        using TempDirectory dir = SampleSystem.Create();
        Directory.Delete(dir["sys/firmware/memmap"], recursive: true);
        E820Map map = new RunningSystem(dir.Path).ReadNormalMemoryMap();
        Assert.That(map.Entries.Select(e => (e.Range.Start.Value, e.Type)), Is.EqualTo(new[]
        {
            (0x0UL, E820Type.Reserved), (0x1000UL, E820Type.Ram), (0x9fc00UL, E820Type.Reserved), (0xf0000UL, E820Type.Reserved),
            (0x100000UL, E820Type.Ram), (0x7ffdf000UL, E820Type.Nvs), (0x7ffe0000UL, E820Type.Acpi), (0x7ffe2000UL, E820Type.Reserved),
            (0xfffc0000UL, E820Type.Reserved), (0x100000000UL, E820Type.Ram),
        }));
    }

    [Test]
    public void Crash_kernel_map_has_low_ram_firmware_ranges_and_the_region_minus_the_core_header()
    {
        Iomem iomem = Iomem.Parse("iomem", SampleSystem.Iomem);
        PhysicalRange header = R(0x7effc000, 0x7f000000);
        E820Map map = E820Map.ForCrashKernel(iomem, iomem.Find("Crash kernel"), [header]);
        Assert.That(map.Entries, Is.EqualTo(new[]
        {
            new E820Entry(R(0x0, 0x1000), E820Type.Reserved),
            new E820Entry(R(0x1000, 0x9fc00), E820Type.Ram),
            new E820Entry(R(0x9fc00, 0xa0000), E820Type.Reserved),
            new E820Entry(R(0xf0000, 0x100000), E820Type.Reserved),
            new E820Entry(R(0x6f000000, 0x7effc000), E820Type.Ram),
            new E820Entry(R(0x7ffdf000, 0x7ffe0000), E820Type.Nvs),
            new E820Entry(R(0x7ffe0000, 0x7ffe2000), E820Type.Acpi),
            new E820Entry(R(0x7ffe2000, 0x80000000), E820Type.Reserved),
            new E820Entry(R(0xb0000000, 0xc0000000), E820Type.Reserved),
            new E820Entry(R(0xfffc0000, 0x100000000), E820Type.Reserved),
        }));
        Assert.That(map.Entries.Where(e => e.Type == E820Type.Ram).Sum(e => (long)e.Range.Length),
            Is.EqualTo(0x9ec00 + 0xfffc000), "only low RAM and the crash region are RAM: nothing of the crashed kernel's memory");
    }

    [Test]
    public void A_low_crash_region_becomes_ram_too_and_a_sub_page_remainder_is_dropped()
    {
        string text = SampleSystem.Iomem.Replace("  6f000000-7effffff : Crash kernel", "  10000000-1fffffff : Crash kernel\n  6f000000-7effffff : Crash kernel");
        Iomem iomem = Iomem.Parse("iomem", text);
        E820Map map = E820Map.ForCrashKernel(iomem, iomem.Find("Crash kernel"), [R(0x6f000800, 0x7f000000)]);
        Assert.That(map.Entries.Where(e => e.Type == E820Type.Ram).Select(e => e.Range),
            Is.EqualTo(new[] { R(0x1000, 0x9fc00), R(0x10000000, 0x20000000) }));
    }

    [Test]
    public void Crash_notes_vmcoreinfo_and_kernel_text_are_read_from_sysfs_and_kallsyms()
    {
        using TempDirectory dir = SampleSystem.Create(cpus: 12);
        var system = new RunningSystem(dir.Path);
        IReadOnlyList<CpuCrashNote> notes = system.ReadCrashNotes();
        Assert.That(notes.Select(n => n.Cpu), Is.EqualTo(Enumerable.Range(0, 12)), "numeric order, cpu10 after cpu9");
        Assert.That(notes[1], Is.EqualTo(new CpuCrashNote(1, new PhysicalAddress(0x17fc1b000), 368)));
        Assert.That(system.ReadVmcoreinfo(), Is.EqualTo(new VmcoreinfoNoteLocation(new PhysicalAddress(0x1ff2e000), 0x1024)));
        KernelTextMapping text = system.ReadKernelTextMapping(system.ReadIomem());
        Assert.That(text.VirtualStart, Is.EqualTo(SampleSystem.TextVirtual));
        Assert.That(text.PhysicalStart, Is.EqualTo(new PhysicalAddress(0x1f000000)));
        Assert.That(text.Size, Is.EqualTo(0x2001000), "_end - _text rounded up to a page");
    }

    [TestCase("0x000000001ff2e000\n", TestName = "Vmcoreinfo without size")]
    [TestCase("1ff2e000 1024\n", TestName = "Vmcoreinfo without 0x")]
    [TestCase("0x0000000000000000 1024\n", TestName = "Vmcoreinfo at 0")]
    public void Bad_vmcoreinfo_is_one_line(string text)
    {
        var e = Assert.Throws<KexecException>(() => VmcoreinfoNoteLocation.Parse("/sys/kernel/vmcoreinfo", text));
        Assert.That(e!.Message, Does.StartWith("/sys/kernel/vmcoreinfo: ").And.Not.Contain("\n"));
    }

    [Test]
    public void Hidden_kallsyms_asks_for_root()
    {
        Iomem iomem = Iomem.Parse("iomem", SampleSystem.Iomem);
        var e = Assert.Throws<KexecException>(() => KernelTextMapping.From("/proc/kallsyms", "0000000000000000 T _text\n0000000000000000 B _end\n", iomem, []));
        Assert.That(e!.Hint, Is.EqualTo("run as root"));
    }

    [Test]
    public void Without_end_in_kallsyms_the_kcore_text_segment_gives_the_size()
    {
        Iomem iomem = Iomem.Parse("iomem", SampleSystem.Iomem);
        string kallsyms = $"{SampleSystem.TextVirtual:x} T _stext\n{SampleSystem.TextVirtual:x} T _text\n";
        KernelTextMapping text = KernelTextMapping.From("kallsyms", kallsyms, iomem, DirectMap.KcoreLoads("kcore", SampleSystem.Kcore()));
        Assert.That(text.VirtualStart, Is.EqualTo(SampleSystem.TextVirtual));
        Assert.That(text.Size, Is.EqualTo(SampleSystem.TextSize));
        Assert.Throws<KexecException>(() => KernelTextMapping.From("kallsyms", kallsyms, iomem, []));
    }

    [Test]
    public void Direct_map_base_is_the_lowest_kcore_load_rounded_to_a_gigabyte()
    {
        byte[] kcore = SampleSystem.Kcore();
        Assert.That(DirectMap.FromKcoreHeaders("kcore", kcore), Is.EqualTo(SampleSystem.DirectMapBase));
        Assert.Throws<KexecException>(() => DirectMap.FromKcoreHeaders("kcore", kcore.AsSpan(0, 64 + 56 * 3)));
        Assert.Throws<KexecException>(() => DirectMap.FromKcoreHeaders("kcore", new byte[100]));
    }
}
