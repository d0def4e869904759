using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

/// <summary>
/// The formatter against the real thing: each scenario is written as an ELF vmcore, given to the
/// installed vmcore-dmesg, and its stdout compared byte for byte with ours. Ignored where kexec-tools
/// is not installed.
/// </summary>
public class VmcoreDmesgComparisonTests
{
    private static void AssertSameAsVmcoreDmesg(KernelMemoryBuilder memory, string? expected = null)
    {
        byte[] theirs = VmcoreDmesgRunner.Run(memory);
        KernelLog log = KernelLog.Read(memory.Virtual, memory.Vmcoreinfo.Build(), DumpLimits.Default);
        using var ours = new MemoryStream();
        DmesgFormatter.Write(ours, log.Records);

        Assert.That(log.Problems, Is.Empty);
        Assert.That(Encoding.Latin1.GetString(ours.ToArray()), Is.EqualTo(Encoding.Latin1.GetString(theirs)));
        if (expected is not null)
            Assert.That(Encoding.Latin1.GetString(theirs), Is.EqualTo(expected));
    }

    [Test]
    public void Wrapped_lockless_ring()
    {
        AssertSameAsVmcoreDmesg(PrintkScenarios.WrappedRing().Memory, PrintkScenarios.WrappedRingDmesg);
    }

    [Test]
    public void Lockless_ring_with_a_foreign_layout()
    {
        // vmcore-dmesg 2.0.25 reads the infos pointer at OFFSET(prb_desc_ring.infos) from the start of
        // printk_ringbuffer, forgetting OFFSET(printk_ringbuffer.desc_ring) (dump_dmesg_lockless:
        // "get_ulong(m.prb + prb_desc_ring_infos_offset)"); every kernel has desc_ring first, so only
        // that member stays in place here.
        PrintkLayout layout = PrintkLayout.Shuffled with { DescRing = 0, TextDataRing = 80, Fail = 144 };

        AssertSameAsVmcoreDmesg(PrintkScenarios.WrappedRing(layout).Memory, PrintkScenarios.WrappedRingDmesg);
    }

    [Test]
    public void Every_byte_value()
    {
        var ring = new PrintkRingBuilder(countBits: 4, sizeBits: 10);
        ring.Add(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 42_000_001_000, 1);
        ring.Add([], 43_000_000_000, 1);
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);

        AssertSameAsVmcoreDmesg(memory);
    }

    [Test]
    public void Ring_that_wrapped_many_times()
    {
        // 16 descriptors, 1 KiB of text, 500 records of varying length: IDs and lpos wrap often.
        var ring = new PrintkRingBuilder(countBits: 4, sizeBits: 10);
        var random = new Random(1234);
        for (int i = 0; i < 500; i++)
        {
            int length = random.Next(0, 200);
            string text = $"#{i} " + new string((char)('a' + i % 26), length);
            if (i % 37 == 0)
                ring.AddDataLess((ulong)i * 1_234_567, (uint)i);
            else
                ring.Add(Encoding.ASCII.GetBytes(text), (ulong)i * 1_234_567, (uint)i, reserved: i % 5 == 0 ? text.Length + 9 : null);
        }
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);

        AssertSameAsVmcoreDmesg(memory);
    }

    [Test]
    public void Block_ending_exactly_at_the_ring_end_is_where_vmcore_dmesg_2_0_25_goes_wrong()
    {
        (KernelMemoryBuilder memory, string fitting) = PrintkScenarios.ExactFitRing();

        string theirs = Encoding.Latin1.GetString(VmcoreDmesgRunner.Run(memory));
        string ours = DmesgFormatter.Format(KernelLog.Read(memory.Virtual, memory.Vmcoreinfo.Build(), DumpLimits.Default).Records);

        // It takes the block for a wrapped one and prints text_len (120) bytes from ring offset 8:
        // r2's "after", then what is left there of r0's text.
        Assert.That(ours, Is.EqualTo($"[    2.000000] {fitting}\n[    3.000000] after\n"));
        Assert.That(theirs, Is.EqualTo($"[    2.000000] after{new string('0', 115)}\n[    3.000000] after\n"));
    }

    [Test]
    public void Wrapped_structured_log()
    {
        AssertSameAsVmcoreDmesg(PrintkScenarios.WrappedLegacyLog().Memory, PrintkScenarios.WrappedLegacyDmesg);
    }

    [Test]
    public void Structured_log_of_pre_3_11_kernels_with_caller_ids()
    {
        AssertSameAsVmcoreDmesg(PrintkScenarios.WrappedLegacyLog(withCaller: true, structName: "log").Memory, PrintkScenarios.WrappedLegacyDmesg);
    }
}
