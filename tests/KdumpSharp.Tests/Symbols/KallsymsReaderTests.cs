using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Symbols;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Symbols;

public class KallsymsReaderTests
{
    private static (KernelMemoryBuilder Memory, KallsymsLocation Where) Build(bool longNames = true, string? longName = null)
    {
        var memory = new KernelMemoryBuilder();
        var builder = new KallsymsBuilder()
            .Add('A', "current_task", 0x1fb80)
            .Add('T', "_stext", 0xffff_ffff_8100_0000)
            .Add('T', "panic", 0xffff_ffff_81a0_1cb0)
            .Add('t', "panic_helper", 0xffff_ffff_81a0_2000)
            .Add('D', "init_task", 0xffff_ffff_82a1_aa40)
            .Add('T', "_etext", 0xffff_ffff_81c0_0000);
        if (longName is not null)
            builder.Add('t', longName, 0xffff_ffff_81a0_3000);
        return (memory, builder.Write(memory, longNames));
    }

    [Test]
    public void Decodes_names_types_and_absolute_percpu_addresses()
    {
        var (memory, where) = Build();
        SymbolTable table = KallsymsReader.Read(memory.Virtual, where);
        Assert.Multiple(() =>
        {
            Assert.That(table.Count, Is.EqualTo(6));
            Assert.That(table.Find("_stext"), Is.EqualTo(new KernelSymbol("_stext", 0xffff_ffff_8100_0000, 'T')), "multi-character tokens expand");
            Assert.That(table.Find("current_task"), Is.EqualTo(new KernelSymbol("current_task", 0x1fb80, 'A')), "per-CPU offsets stay absolute");
            Assert.That(table.Find("init_task")?.Address, Is.EqualTo(0xffff_ffff_82a1_aa40));
            Assert.That(table.Source, Does.Contain("AbsolutePerCpu"));
        });
    }

    [Test]
    public void Address_lookup_gives_symbol_offset_and_inferred_size()
    {
        var (memory, where) = Build();
        SymbolTable table = KallsymsReader.Read(memory.Virtual, where);
        SymbolOffset? hit = table.Lookup(0xffff_ffff_81a0_1cc8);
        Assert.That(hit?.ToString(), Is.EqualTo("panic+0x18"));
        Assert.That(hit?.Size, Is.EqualTo(0x2000 - 0x1cb0));
        Assert.That(table.Lookup(0xffff_ffff_8000_0000), Is.Null, "below every kernel symbol but above the per-CPU ones by more than the size cap");
    }

    [Test]
    public void Two_byte_lengths_of_6_1_decode_names_of_128_tokens_or_more()
    {
        string longName = "a_really_" + new string('x', 300);
        var (memory, where) = Build(longNames: true, longName: longName);
        SymbolTable table = KallsymsReader.Read(memory.Virtual, where);
        Assert.That(table.Find(longName)?.Address, Is.EqualTo(0xffff_ffff_81a0_3000));
    }

    [Test]
    public void Wrong_stext_is_reported_as_an_undetectable_encoding()
    {
        var (memory, where) = Build();
        var ex = Assert.Throws<KernelDataException>(() => KallsymsReader.Read(memory.Virtual, where with { Stext = 0xffff_ffff_8200_0000 }));
        Assert.That(ex!.Message, Does.Contain("_stext"));
    }

    [Test]
    public void Missing_names_page_is_a_memory_fault_naming_the_address()
    {
        var (memory, where) = Build();
        memory.Drop(where.Names);
        var ex = Assert.Throws<MemoryFaultException>(() => KallsymsReader.Read(memory.Virtual, where));
        Assert.That(ex!.State, Is.EqualTo(PageState.Excluded));
    }

    [Test]
    public void Implausible_symbol_count_is_rejected()
    {
        var (memory, where) = Build();
        memory.WriteUInt32(where.NumSyms, 0xffff_ffff);
        Assert.Throws<KernelDataException>(() => KallsymsReader.Read(memory.Virtual, where));
    }

    [Test]
    public void System_map_is_relocated_by_the_kaslr_offset_except_per_cpu_symbols()
    {
        var map = new StringReader("0000000000000000 D __per_cpu_start\n000000000001fb80 D current_task\nffffffff81a01cb0 T panic\n");
        SymbolTable table = SymbolTable.FromSystemMap(map, "System.map", 0x17e00000);
        Assert.That(table.Address("panic"), Is.EqualTo(0xffffffff99801cb0));
        Assert.That(table.Address("current_task"), Is.EqualTo(0x1fb80));
        Assert.Throws<KernelDataException>(() => SymbolTable.FromSystemMap(new StringReader("nonsense\n"), "bad.map", 0));
    }
}
