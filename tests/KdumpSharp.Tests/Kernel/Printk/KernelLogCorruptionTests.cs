using System.Diagnostics;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Panic;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

/// <summary>
/// Random damage to valid rings: whatever the dump says, reading ends quickly, in bounded memory, with
/// a log or with KernelDataException/MemoryFaultException, and the log can be formatted and searched.
/// Seeds are fixed so a failure replays.
/// </summary>
public class KernelLogCorruptionTests
{
    private const int Iterations = 2000;

    // Small enough that a wild count_bits or size_bits is refused rather than copied.
    private static readonly DumpLimits Limits = DumpLimits.Default with { MaxLogBufferBytes = 1 << 20, MaxLogRecords = 1 << 12 };

    [Test]
    public void Damaged_lockless_rings_fail_only_with_typed_errors([Values(1, 2, 3)] int seed)
    {
        var random = new Random(seed);
        Run(random, () =>
        {
            (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
            PrintkLayout l = ring.Layout;
            ulong[] fields =
            [
                ring.RingBufferAddress + (ulong)(l.DescRing + l.CountBits),
                ring.RingBufferAddress + (ulong)(l.DescRing + l.Descs),
                ring.RingBufferAddress + (ulong)(l.DescRing + l.Infos),
                ring.RingBufferAddress + (ulong)(l.DescRing + l.HeadId),
                ring.RingBufferAddress + (ulong)(l.DescRing + l.TailId),
                ring.RingBufferAddress + (ulong)(l.TextDataRing + l.SizeBits),
                ring.RingBufferAddress + (ulong)(l.TextDataRing + l.Data),
            ];
            Damage(random, memory, fields,
                [(ring.DescsAddress, 8 * l.DescSize), (ring.InfosAddress, 8 * l.InfoSize), (ring.DataAddress, 256)]);
            return memory;
        });
    }

    [Test]
    public void Damaged_structured_logs_fail_only_with_typed_errors([Values(1, 2, 3)] int seed)
    {
        var random = new Random(seed);
        Run(random, () =>
        {
            (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
            ulong[] fields = [log.LogBufAddress, log.LengthAddress, log.FirstIndexAddress, log.NextIndexAddress];
            Damage(random, memory, fields, [(log.BufferAddress, 160)]);
            return memory;
        });
    }

    private static void Run(Random random, Func<KernelMemoryBuilder> damaged)
    {
        var outcomes = new Dictionary<string, int>();
        var clock = Stopwatch.StartNew();
        long worstAllocation = 0;
        for (int i = 0; i < Iterations; i++)
        {
            KernelMemoryBuilder memory = damaged();
            Vmcoreinfo vmcoreinfo = memory.Vmcoreinfo.Build();
            long before = GC.GetAllocatedBytesForCurrentThread();
            string outcome;
            try
            {
                KernelLog log = KernelLog.Read(memory.Virtual, vmcoreinfo, Limits);
                DmesgFormatter.Format(log.Records, new DmesgOptions { ShowCaller = true });
                PanicReport.Find(log.Records);
                outcome = log.Problems.Count == 0 ? "complete" : "partial";
            }
            catch (KernelDataException)
            {
                outcome = nameof(KernelDataException);
            }
            catch (MemoryFaultException)
            {
                outcome = nameof(MemoryFaultException);
            }
            worstAllocation = Math.Max(worstAllocation, GC.GetAllocatedBytesForCurrentThread() - before);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        TestContext.Out.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")) + $"; worst allocation {worstAllocation} bytes; {clock.Elapsed.TotalSeconds:F1} s");

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)));
        // A wild ring size is refused, so one read copies at most the limit plus records and text.
        Assert.That(worstAllocation, Is.LessThan(8 * Limits.MaxLogBufferBytes));
        // The damage must exercise more than one path, or the test proves little.
        Assert.That(outcomes.Keys, Has.Count.GreaterThanOrEqualTo(3));
    }

    /// <summary>One to four hits: a pointer-sized field overwritten with a random or extreme value,
    /// random bytes in an array, or a page dropped from the dump.</summary>
    private static void Damage(Random random, KernelMemoryBuilder memory, ulong[] fields, (ulong Address, int Length)[] arrays)
    {
        ulong[] extremes = [0, 1, 7, 12, 19, 31, 32, 63, 64, 1 << 19, ulong.MaxValue, 1UL << 62, (1UL << 62) - 1, KernelMemoryBuilder.VirtualBase, KernelMemoryBuilder.VirtualBase + memory.Length - 4];
        int hits = random.Next(1, 5);
        for (int h = 0; h < hits; h++)
        {
            switch (random.Next(4))
            {
                case 0:
                    memory.WriteUInt64(fields[random.Next(fields.Length)], extremes[random.Next(extremes.Length)]);
                    break;
                case 1:
                    memory.WriteUInt64(fields[random.Next(fields.Length)], (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63));
                    break;
                case 2:
                    (ulong address, int length) = arrays[random.Next(arrays.Length)];
                    byte[] junk = new byte[random.Next(1, 16)];
                    random.NextBytes(junk);
                    memory.Write(address + (ulong)random.Next(length - junk.Length), junk);
                    break;
                default:
                    (ulong pageIn, int size) = arrays[random.Next(arrays.Length)];
                    memory.Drop(pageIn + (ulong)random.Next(size), random.Next(2) == 0 ? PageState.Excluded : PageState.Lost);
                    break;
            }
        }
    }
}
