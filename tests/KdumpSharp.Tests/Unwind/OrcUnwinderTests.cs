using System.Buffers.Binary;
using KdumpSharp.Kernel;
using KdumpSharp.Symbols;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Unwind;

namespace KdumpSharp.Tests.Unwind;

public class OrcUnwinderTests
{
    private const ulong Text = 0xffff_ffff_8100_0000;
    private const ulong Leaf = Text + 0x100, Middle = Text + 0x200, Entry = Text + 0x300, End = Text + 0x400;

    internal static SymbolTable Symbols() => new(
        [new KernelSymbol("_stext", Text, 'T'), new KernelSymbol("leaf", Leaf, 'T'), new KernelSymbol("middle", Middle, 't'),
         new KernelSymbol("entry_SYSCALL_64", Entry, 'T'), new KernelSymbol("_etext", End, 'T')], "test");

    /// <summary>
    /// leaf (CFA = sp+16, CALL) ← middle (CFA = sp+32, CALL, rbp saved at CFA−16) ← entry code
    /// (REGS: a user-mode pt_regs at sp). Returns the tables, memory and the starting registers.
    /// </summary>
    internal static (OrcTable Orc, KernelMemoryBuilder Memory, X86Registers Start) Build(OrcFormat format)
    {
        var orc = new OrcBuilder(format)
            .Add(Text, OrcRegister.Undefined, 0, OrcType.EndOfStack)
            .Add(Leaf, OrcRegister.Sp, 16, OrcType.Call)
            .Add(Middle, OrcRegister.Sp, 32, OrcType.Call, OrcRegister.PreviousSp, -16)
            .Add(Entry, OrcRegister.Sp, 0, OrcType.Regs)
            .Add(End, OrcRegister.Undefined, 0, OrcType.Undefined);
        var memory = new KernelMemoryBuilder(16 << 10);
        ulong stack = memory.Allocate(4096);
        ulong sp0 = stack + 0x100;
        // leaf frame: return address into middle at CFA-8 = sp0+8.
        memory.WriteUInt64(sp0 + 8, Middle + 0x20);
        ulong sp1 = sp0 + 16;
        memory.WriteUInt64(sp1 + 16, 0xfeed_f00d); // saved rbp at CFA-16
        memory.WriteUInt64(sp1 + 24, Entry + 0x40);
        ulong sp2 = sp1 + 32;
        byte[] ptRegs = new byte[X86Registers.PtRegsSize];
        BinaryPrimitives.WriteUInt64LittleEndian(ptRegs.AsSpan(128), 0x47b7a0); // ip
        BinaryPrimitives.WriteUInt64LittleEndian(ptRegs.AsSpan(136), 0x33); // cs: user
        BinaryPrimitives.WriteUInt64LittleEndian(ptRegs.AsSpan(152), 0x7ffc_0000_1000); // sp
        memory.Write(sp2, ptRegs);
        return (orc.Table(), memory, X86Registers.FromFrame(Leaf + 0x10, sp0, 0x1234));
    }

    [TestCase(OrcFormat.Original)]
    [TestCase(OrcFormat.WithSignal)]
    [TestCase(OrcFormat.TypedEnd)]
    public void Unwinds_calls_and_stops_at_a_user_mode_register_frame(OrcFormat format)
    {
        var (orc, memory, start) = Build(format);
        Backtrace bt = new OrcUnwinder(orc, Symbols(), memory.Virtual).Unwind(start);
        Assert.That(bt.Frames.Select(f => f.Symbol?.ToString()), Is.EqualTo(new[] { "leaf+0x10", "middle+0x20", "entry_SYSCALL_64+0x40" }));
        Assert.That(bt.StopReason, Is.Null, "a user-mode pt_regs is the normal bottom");
        Assert.That(bt.Frames[2].Registers?.Rip, Is.EqualTo(0x47b7a0));
        Assert.That(bt.Frames[2].Registers?.IsUserMode, Is.True);
    }

    [Test]
    public void Undefined_entry_stops_with_a_reason()
    {
        var (orc, memory, _) = Build(OrcFormat.TypedEnd);
        Backtrace bt = new OrcUnwinder(orc, Symbols(), memory.Virtual).Unwind(X86Registers.FromFrame(End, KernelMemoryBuilder.VirtualBase + 0x100, 0));
        Assert.That(bt.Frames, Has.Count.EqualTo(1));
        Assert.That(bt.StopReason, Does.Contain("no unwind information"));
    }

    [Test]
    public void End_of_stack_entry_ends_cleanly()
    {
        var (orc, memory, _) = Build(OrcFormat.Original);
        Backtrace bt = new OrcUnwinder(orc, Symbols(), memory.Virtual).Unwind(X86Registers.FromFrame(Text + 4, KernelMemoryBuilder.VirtualBase + 0x100, 0));
        Assert.That(bt.StopReason, Is.Null);
        Assert.That(bt.Frames, Has.Count.EqualTo(1));
    }

    [Test]
    public void Unreadable_stack_is_reported_not_thrown()
    {
        var (orc, memory, start) = Build(OrcFormat.Original);
        memory.Drop(start.Rsp);
        Backtrace bt = new OrcUnwinder(orc, Symbols(), memory.Virtual).Unwind(start);
        Assert.That(bt.StopReason, Does.StartWith("stack unreadable"));
    }

    [Test]
    public void Entry_bits_decode_per_format()
    {
        byte[] e = [0x10, 0, 0xf0, 0xff, 0x15, 0x00];
        Assert.That(OrcEntry.Decode(e, OrcFormat.Original), Is.EqualTo(new OrcEntry(16, -16, OrcRegister.Sp, OrcRegister.PreviousSp, OrcType.Call, false)));
        e[5] = 0x02; // 6.4+: type 2 = CALL
        Assert.That(OrcEntry.Decode(e, OrcFormat.TypedEnd).Type, Is.EqualTo(OrcType.Call));
        e[5] = 0x01; // 6.1: type 1 = REGS
        Assert.That(OrcEntry.Decode(e, OrcFormat.Original).Type, Is.EqualTo(OrcType.Regs));
    }

    [Test]
    public void Format_comes_from_btf_members_else_the_release()
    {
        Assert.That(OrcEntry.DetectFormat(true, false, null), Is.EqualTo(OrcFormat.Original));
        Assert.That(OrcEntry.DetectFormat(true, true, null), Is.EqualTo(OrcFormat.WithSignal));
        Assert.That(OrcEntry.DetectFormat(false, true, null), Is.EqualTo(OrcFormat.TypedEnd));
        Assert.That(OrcEntry.DetectFormat(null, null, "6.12.117+deb12-amd64"), Is.EqualTo(OrcFormat.TypedEnd));
        Assert.That(OrcEntry.DetectFormat(null, null, "6.1.0-56-amd64"), Is.EqualTo(OrcFormat.Original));
        Assert.Throws<KernelDataException>(() => OrcEntry.DetectFormat(null, null, "garbage"));
    }

    [Test]
    public void Unsorted_or_mismatched_tables_are_rejected()
    {
        Assert.Throws<KernelDataException>(() => OrcTable.Parse(new byte[8], OrcBuilder.IpTableAddress, new byte[6], OrcFormat.Original));
        byte[] ips = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(ips, 100);
        Assert.Throws<KernelDataException>(() => OrcTable.Parse(ips, OrcBuilder.IpTableAddress, new byte[12], OrcFormat.Original));
    }
}
