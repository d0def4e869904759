using KdumpSharp.Dumps.Elf;
using KdumpSharp.IO;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Fuzzing;

/// <summary>
/// Thousands of damaged dumps per run: each must open and read without an unhandled exception,
/// within a time bound, and with bounded allocation. Failures name seed, mutation and case number
/// so a case can be replayed.
/// </summary>
public class ReaderFuzzTests
{
    private const int CasesPerMutation = 300;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private const long MaxAllocationPerCase = 256L << 20;

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (FuzzSeed seed in FuzzSeeds.All())
            foreach (Mutation mutation in Enum.GetValues<Mutation>())
                yield return new TestCaseData(seed, mutation).SetName($"Fuzz {seed.Name} {mutation}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Damaged_dumps_fail_only_with_typed_errors(FuzzSeed seed, Mutation mutation)
    {
        Assert.That(DumpExercise.Run(seed.File, seed.VirtualProbes), Is.Null, "the undamaged seed must read cleanly");
        var random = new Random(HashCode.Combine(seed.Name, mutation) & 0x7fffffff);
        int typedFailures = 0;
        for (int i = 0; i < CasesPerMutation; i++)
        {
            byte[] damaged = Mutator.Apply(seed, mutation, random);
            Exception? unexpected = null;
            Exception? typed = null;
            var task = Task.Run(() =>
            {
                long start = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    typed = DumpExercise.Run(damaged, seed.VirtualProbes);
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
                return GC.GetAllocatedBytesForCurrentThread() - start;
            });
            Assert.That(task.Wait(CaseTimeout), Is.True, $"{seed.Name} {mutation} case {i}: no answer within {CaseTimeout.TotalSeconds} s (hang)");
            Assert.That(unexpected, Is.Null, $"{seed.Name} {mutation} case {i}: unhandled {unexpected?.GetType().Name}: {unexpected}");
            Assert.That(task.Result, Is.LessThan(MaxAllocationPerCase), $"{seed.Name} {mutation} case {i}: allocated {task.Result >> 20} MiB");
            if (typed is not null)
            {
                typedFailures++;
                Assert.That(typed.Message, Does.Not.Contain("\n"), "errors are one line");
            }
        }
        TestContext.Out.WriteLine($"{seed.Name} {mutation}: {CasesPerMutation} cases, {typedFailures} rejected with a typed error, the rest read");
        if (mutation == Mutation.Truncate)
            Assert.That(typedFailures + CasesPerMutation, Is.GreaterThan(CasesPerMutation), "truncation never detected: the check cannot be working");
    }
}

/// <summary>Valid seed dumps with the regions worth damaging.</summary>
internal static class FuzzSeeds
{
    public static IEnumerable<FuzzSeed> All()
    {
        yield return ElfSeed();
    }

    private static FuzzSeed ElfSeed()
    {
        var machine = new KernelImageFixture(small: true);
        byte[] file = machine.ToElfCore();
        using var reader = new ElfVmcoreReader(new MemorySource("seed", file));
        int dataStart = (int)reader.Segments[0].FileOffset;
        // Page tables sit 3 MiB into the image; find their file offset through the segment holding them.
        LoadSegment holder = reader.Segments.Single(s => s.Memory.Contains(new(machine.ImagePhysical + 0x300000)));
        int tables = (int)(holder.FileOffset + (long)(machine.ImagePhysical + 0x300000 - holder.Memory.Start.Value));
        return new FuzzSeed("ELF", file, [(0, dataStart), (tables, 6 * 4096), (0, file.Length)],
            [machine.ImageVirtual + 0x10, machine.DirectMapBase + 0x5000, KernelImageFixture.VmallocPage]);
    }
}
