using System.Buffers.Binary;
using KdumpSharp.Architecture;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Architecture;

public class X86_64VirtualMemoryTests
{
    [TestCase(4, 0UL, TestName = "Four-level paging")]
    [TestCase(5, 0UL, TestName = "Five-level paging")]
    [TestCase(4, 1UL << 47, TestName = "SME mask is stripped from entries")]
    public void Translates_image_direct_map_and_small_pages(int levels, ulong smeMask)
    {
        ulong directMap = levels == 5 ? 0xff11400000000000 : 0xffff9a0000000000;
        var machine = new KernelImageFixture(levels, smeMask, directMapBase: directMap);
        var vm = new X86_64VirtualMemory(machine.ToPhysicalMemory(), machine.ParsedVmcoreinfo);

        Assert.That(vm.Translate(machine.ImageVirtual + 0x1234).Value, Is.EqualTo(machine.ImagePhysical + 0x1234));
        Assert.That(vm.Translate(machine.ImageVirtual + 0x300005).Value, Is.EqualTo(machine.ImagePhysical + 0x300005));
        Assert.That(vm.Translate(directMap + 0x1abcdef).Value, Is.EqualTo(0x1abcdefUL));
        Assert.That(vm.Translate(KernelImageFixture.VmallocPage + 0x10).Value, Is.EqualTo(KernelImageFixture.VmallocTarget + 0x10));
    }

    [Test]
    public void Reads_cross_page_boundaries_through_different_mappings()
    {
        var machine = new KernelImageFixture();
        BinaryPrimitives.WriteUInt64LittleEndian(machine.Ram.AsSpan(0x500ff8), 0x1122334455667788);
        BinaryPrimitives.WriteUInt64LittleEndian(machine.Ram.AsSpan(0x501000), 0x99aabbccddeeff00);
        var vm = new X86_64VirtualMemory(machine.ToPhysicalMemory(), machine.ParsedVmcoreinfo);

        byte[] buffer = new byte[16];
        vm.Read(machine.DirectMapBase + 0x500ff8, buffer);

        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(buffer), Is.EqualTo(0x1122334455667788));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8)), Is.EqualTo(0x99aabbccddeeff00));
    }

    [TestCase(0xffffc90000004000UL, TestName = "Unmapped vmalloc page")]
    [TestCase(0x0000800000000000UL, TestName = "Non-canonical address")]
    public void Unmapped_addresses_fault_with_the_address(ulong address)
    {
        var machine = new KernelImageFixture();
        var vm = new X86_64VirtualMemory(machine.ToPhysicalMemory(), machine.ParsedVmcoreinfo);

        var fault = Assert.Throws<MemoryFaultException>(() => vm.ReadUInt64(address));

        Assert.That(fault!.Address, Is.EqualTo(address));
        Assert.That(fault.Message, Does.Contain($"0x{address:x}").And.Contain("not mapped"));
    }

    [Test]
    public void An_excluded_page_behind_a_mapping_faults_with_the_physical_reason()
    {
        var machine = new KernelImageFixture();
        SparsePhysicalMemory memory = machine.ToPhysicalMemory();
        memory.SetState(new PageFrameNumber(0x600), PageState.Excluded);
        var vm = new X86_64VirtualMemory(memory, machine.ParsedVmcoreinfo);

        var fault = Assert.Throws<MemoryFaultException>(() => vm.ReadUInt64(machine.DirectMapBase + 0x600010));

        Assert.That(fault!.State, Is.EqualTo(PageState.Excluded));
        Assert.That(fault.Message, Does.Contain("excluded"));
    }

    [Test]
    public void Finds_the_randomized_direct_map_and_the_image_extent_without_symbols()
    {
        var machine = new KernelImageFixture(directMapBase: 0xffffa1c0c0000000);
        var vm = new X86_64VirtualMemory(machine.ToPhysicalMemory(), machine.ParsedVmcoreinfo);

        Assert.That(vm.FindDirectMapBase(), Is.EqualTo(0xffffa1c0c0000000));
        Assert.That(vm.FindKernelImageMapping(1UL << 30), Is.EqualTo((machine.ImageVirtual, machine.ImageVirtual + 0x400000)));
    }

    [Test]
    public void Missing_page_table_symbol_is_a_clear_error()
    {
        var info = Vmcoreinfo.Parse("OSRELEASE=6.1.0\n"u8);
        var ex = Assert.Throws<KernelDataException>(() => new X86_64VirtualMemory(new SparsePhysicalMemory(), info));
        Assert.That(ex!.Message, Does.Contain("init_top_pgt"));
    }
}
