using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Fuzzing;

/// <summary>
/// Runs a parser of in-memory kernel tables (kallsyms, BTF, ORC) on many damaged copies of a valid
/// image: each case must succeed or fail with a typed, one-line error, within a time and
/// allocation bound. Used by the per-parser fuzz tests.
/// </summary>
internal static class KernelTableFuzz
{
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private const long MaxAllocationPerCase = 256L << 20;

    public static int Run(string name, byte[] image, Action<byte[]> parse, int cases = 400)
    {
        parse(image);
        var seed = new FuzzSeed(name, image, [(0, image.Length)], []);
        int typedFailures = 0;
        foreach (Mutation mutation in Enum.GetValues<Mutation>())
        {
            var random = FuzzRandom.For(name, (int)mutation);
            for (int i = 0; i < cases; i++)
            {
                byte[] damaged = Mutator.Apply(seed, mutation, random);
                Exception? failure = null;
                var task = Task.Run(() =>
                {
                    long start = GC.GetAllocatedBytesForCurrentThread();
                    try
                    {
                        parse(damaged);
                    }
                    catch (Exception e)
                    {
                        failure = e;
                    }
                    return GC.GetAllocatedBytesForCurrentThread() - start;
                });
                Assert.That(task.Wait(CaseTimeout), Is.True, $"{FuzzRandom.Case(name, mutation, i)}: no answer within {CaseTimeout.TotalSeconds} s (hang)");
                Assert.That(task.Result, Is.LessThan(MaxAllocationPerCase), $"{FuzzRandom.Case(name, mutation, i)}: allocated {task.Result >> 20} MiB");
                if (failure is null)
                    continue;
                Assert.That(failure, Is.TypeOf<KernelDataException>().Or.TypeOf<MemoryFaultException>(),
                    $"{FuzzRandom.Case(name, mutation, i)}: untyped {failure.GetType().Name}: {failure}");
                Assert.That(failure.Message, Does.Not.Match(@"\p{Cc}"), $"{FuzzRandom.Case(name, mutation, i)}: errors are one line, with no control characters");
                typedFailures++;
            }
        }
        TestContext.Out.WriteLine($"{name}: {cases * 4} damaged cases, {typedFailures} rejected with a typed error");
        return typedFailures;
    }
}
