using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Unwind;
using KdumpSharp.Unwind;

namespace KdumpSharp.Tests.Fuzzing;

public class OrcFuzzTests
{
    [Test]
    public void Damaged_orc_tables_and_stacks_fail_only_with_typed_errors()
    {
        var (orc, memory, start) = OrcUnwinderTests.Build(OrcFormat.TypedEnd);
        (byte[] ips, byte[] entries) = new OrcBuilder(OrcFormat.TypedEnd)
            .Add(0xffff_ffff_8100_0000, OrcRegister.Undefined, 0, OrcType.EndOfStack)
            .Add(0xffff_ffff_8100_0100, OrcRegister.Sp, 16, OrcType.Call)
            .Add(0xffff_ffff_8100_0200, OrcRegister.Sp, 32, OrcType.Call, OrcRegister.PreviousSp, -16)
            .Add(0xffff_ffff_8100_0300, OrcRegister.Sp, 0, OrcType.Regs)
            .Add(0xffff_ffff_8100_0400, OrcRegister.Undefined, 0, OrcType.Undefined).Build();
        byte[] stack = memory.Snapshot();
        byte[] image = [.. ips, .. entries, .. stack];
        int rejected = KernelTableFuzz.Run("orc", image, bytes =>
        {
            int ipLength = Math.Min(ips.Length, bytes.Length);
            int entryLength = Math.Clamp(bytes.Length - ipLength, 0, entries.Length);
            OrcTable table = OrcTable.Parse(bytes.AsSpan(0, ipLength), OrcBuilder.IpTableAddress, bytes.AsSpan(ipLength, entryLength), OrcFormat.TypedEnd);
            var copy = new KernelMemoryBuilder(16 << 10);
            copy.Write(KernelMemoryBuilder.VirtualBase, bytes.AsSpan(ipLength + entryLength));
            Backtrace bt = new OrcUnwinder(table, OrcUnwinderTests.Symbols(), copy.Virtual).Unwind(start);
            Assert.That(bt.Frames.Count, Is.LessThanOrEqualTo(OrcUnwinder.MaxFrames));
        });
        Assert.That(rejected, Is.GreaterThan(0), "no damage was ever detected: the checks cannot be working");
    }
}
