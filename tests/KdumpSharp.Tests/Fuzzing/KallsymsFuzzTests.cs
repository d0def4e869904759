using KdumpSharp.Symbols;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Fuzzing;

public class KallsymsFuzzTests
{
    [Test]
    public void Damaged_kallsyms_tables_fail_only_with_typed_errors()
    {
        var memory = new KernelMemoryBuilder(64 << 10);
        var builder = new KallsymsBuilder().Add('A', "current_task", 0x1fb80).Add('T', "_stext", 0xffff_ffff_8100_0000);
        for (int i = 0; i < 200; i++)
            builder.Add(i % 2 == 0 ? 'T' : 't', $"function_{i}_ext", 0xffff_ffff_8100_1000 + (ulong)i * 0x40);
        KallsymsLocation where = builder.Write(memory);
        byte[] image = memory.Snapshot();
        int rejected = KernelTableFuzz.Run("kallsyms", image, bytes =>
        {
            var copy = new KernelMemoryBuilder(64 << 10);
            copy.Write(KernelMemoryBuilder.VirtualBase, bytes);
            KallsymsReader.Read(copy.Virtual, where);
        });
        Assert.That(rejected, Is.GreaterThan(0), "no damage was ever detected: the checks cannot be working");
    }
}
