using System.Text;
using KdumpSharp.Kexec;
using KdumpSharp.Tests.Fuzzing;

namespace KdumpSharp.Tests.Kexec;

/// <summary>Damaged /proc/iomem texts and /proc/kcore headers: typed one-line errors or a consistent result, nothing else.</summary>
public class KexecParserFuzzTests
{
    private const int Cases = 2000;

    [TestCase(Mutation.Truncate)]
    [TestCase(Mutation.FlipBits)]
    [TestCase(Mutation.OverwriteField)]
    [TestCase(Mutation.RandomBlock)]
    public void Damaged_iomem_parses_or_fails_typed(Mutation mutation)
    {
        byte[] text = Encoding.ASCII.GetBytes(SampleSystem.Iomem);
        var seed = new FuzzSeed("iomem", text, [(0, text.Length)], []);
        var random = Fuzzing.FuzzRandom.For("kexec-parser", 0x10e + (int)mutation);
        int rejected = 0;
        for (int i = 0; i < Cases; i++)
        {
            string damaged = Encoding.Latin1.GetString(Mutator.Apply(seed, mutation, random));
            try
            {
                Iomem iomem = Iomem.Parse("iomem", damaged);
                foreach (IomemResource r in iomem.All())
                    Assert.That(r.Range.End > r.Range.Start, Is.True, $"case {i}: empty range {r}");
                E820Map.ForCrashKernel(iomem, iomem.Find("Crash kernel"), []);
            }
            catch (KexecException e)
            {
                Assert.That(e.Message, Does.Not.Contain("\n"), $"case {i}");
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(0), "no damage was ever detected");
    }

    [TestCase(Mutation.Truncate)]
    [TestCase(Mutation.FlipBits)]
    [TestCase(Mutation.OverwriteField)]
    [TestCase(Mutation.RandomBlock)]
    public void Damaged_kcore_headers_fail_typed(Mutation mutation)
    {
        byte[] kcore = new byte[64 + 4 * 56];
        KdumpSharp.Elf.Elf64Header.WriteCore(kcore, 4, 0);
        ulong[] vaddrs = [SampleSystem.TextVirtual, SampleSystem.DirectMapBase + 0x1000, 0xffffb1cb40000000, 0xffffd7e340000000];
        for (int i = 0; i < 4; i++)
            new KdumpSharp.Elf.Elf64ProgramHeader(1, 0x1000, vaddrs[i], 0, 0x1000, 0x1000).Write(kcore.AsSpan(64 + i * 56));
        var seed = new FuzzSeed("kcore", kcore, [(0, 64), (64, 4 * 56)], []);
        var random = Fuzzing.FuzzRandom.For("kexec-parser", 0xc0 + (int)mutation);
        int rejected = 0;
        for (int i = 0; i < Cases; i++)
        {
            try
            {
                ulong b = DirectMap.FromKcoreHeaders("kcore", Mutator.Apply(seed, mutation, random));
                Assert.That(b % (1UL << 30), Is.Zero);
            }
            catch (KexecException e)
            {
                Assert.That(e.Message, Does.Not.Contain("\n"));
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(0));
    }
}
