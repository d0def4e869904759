using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

public class KernelLogLocklessTests
{
    private static KernelLog Read(KernelMemoryBuilder memory, DumpLimits? limits = null) =>
        KernelLog.Read(memory.Virtual, memory.Vmcoreinfo.Build(), limits ?? DumpLimits.Default);

    private static string Text(LogRecord r) => Encoding.Latin1.GetString(r.Text.Span);

    [Test]
    public void Wrapped_ring_yields_the_committed_records_between_tail_and_head()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing();

        KernelLog log = Read(memory);

        Assert.That(log.Format, Is.EqualTo(KernelLogFormat.Lockless));
        Assert.That(log.Problems, Is.Empty);
        Assert.That(log.Records.Select(r => (r.Kind, r.Sequence, r.TimestampNanoseconds, r.Caller?.ToString(), Text(r))), Is.EqualTo(new (LogRecordKind, ulong?, ulong, string?, string)[]
        {
            (LogRecordKind.Text, 3, 3_000_123_456UL, "T1", "multi-line record:\n  second line\n  third"),
            (LogRecordKind.Text, 4, 12_345_678_901UL, "C1", "wrapped block text!!"),
            (LogRecordKind.DataLess, 5, 99_999_999_999UL, "T2", ""),
            (LogRecordKind.Text, 6, 123_456_789_012UL, "T612", Encoding.Latin1.GetString(PrintkScenarios.OddBytes)),
            (LogRecordKind.Text, 7, 123_456_000_000_000UL, "T7", "truncated at 16."),
        }));
    }

    [Test]
    public void Offsets_and_sizes_come_from_vmcoreinfo()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing(PrintkLayout.Shuffled);

        KernelLog log = Read(memory);

        Assert.That(log.Problems, Is.Empty);
        Assert.That(DmesgFormatter.Format(log.Records), Is.EqualTo(PrintkScenarios.WrappedRingDmesg));
    }

    [Test]
    public void Block_ending_exactly_at_the_end_of_the_ring_is_read_in_place()
    {
        (KernelMemoryBuilder memory, string fitting) = PrintkScenarios.ExactFitRing();

        KernelLog log = Read(memory);

        Assert.That(log.Problems, Is.Empty);
        Assert.That(log.Records.Select(Text), Is.EqualTo(new[] { fitting, "after" }));
    }

    [Test]
    public void Prb_is_a_pointer_to_the_ring_not_the_ring()
    {
        (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
        // Point SYMBOL(prb) at the structure itself: the first 8 bytes (count_bits and padding) are
        // then taken for the ring's address, which is not mapped.
        memory.Vmcoreinfo.Symbol("prb", ring.RingBufferAddress);

        Assert.That(() => Read(memory), Throws.TypeOf<MemoryFaultException>());
    }

    [Test]
    public void Empty_ring_gives_no_records()
    {
        var ring = new PrintkRingBuilder(countBits: 4, sizeBits: 10);
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);

        KernelLog log = Read(memory);

        // head == tail == DESC0_ID, whose descriptor is reusable: nothing to print.
        Assert.That(log.Records, Is.Empty);
        Assert.That(log.Problems, Is.Empty);
    }

    [Test]
    public void Missing_vmcoreinfo_key_is_named()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing();
        memory.Vmcoreinfo.Remove("OFFSET(prb_desc.text_blk_lpos)");

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("OFFSET(prb_desc.text_blk_lpos)"));
    }

    [Test]
    public void Offset_outside_its_structure_is_rejected()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing();
        memory.Vmcoreinfo.Offset("printk_info.caller_id", 86);

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("SIZE(printk_info)=88"));
    }

    [Test]
    public void Descriptor_count_above_the_record_limit_is_rejected_before_reading()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing();

        Assert.That(() => Read(memory, DumpLimits.Default with { MaxLogRecords = 7 }),
            Throws.TypeOf<KernelDataException>().With.Message.Contains("8 descriptors"));
    }

    [Test]
    public void Ring_larger_than_the_buffer_limit_is_rejected_before_reading()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedRing();

        // 8 × 24 + 8 × 88 + 256 = 1152 bytes.
        Assert.That(() => Read(memory, DumpLimits.Default with { MaxLogBufferBytes = 1151 }),
            Throws.TypeOf<KernelDataException>().With.Message.Contains("1151"));
        Assert.That(Read(memory, DumpLimits.Default with { MaxLogBufferBytes = 1152 }).Records, Has.Count.EqualTo(5));
    }

    [Test]
    public void Missing_text_page_costs_only_the_records_on_it()
    {
        // 64 descriptors, 16 KiB of text: four pages of text ring, one record per ~1 KiB.
        var ring = new PrintkRingBuilder(countBits: 6, sizeBits: 14);
        for (int i = 0; i < 12; i++)
            ring.Add($"record {i:D2} " + new string('.', 1000), (ulong)i * 1_000_000_000, (uint)i);
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);
        // Each record is a 1024-byte block at i × 1024: records 4..7 lie on the text ring's second page.
        memory.Drop(ring.DataAddress + 4096);

        KernelLog log = Read(memory);

        Assert.That(log.Records.Select(r => r.Sequence), Is.EqualTo(new ulong?[] { 0, 1, 2, 3, 8, 9, 10, 11 }));
        Assert.That(log.Problems, Has.Count.EqualTo(2));
        Assert.That(log.Problems[0], Does.Contain($"printk text ring bytes 0x{ring.DataAddress + 4096:x}-0x{ring.DataAddress + 8191:x}"));
        Assert.That(log.Problems[0], Does.Contain("page excluded"));
        Assert.That(log.Problems[1], Does.StartWith("4 printk records were skipped"));
    }

    [Test]
    public void Ids_further_apart_than_the_ring_read_only_the_newest_descriptors()
    {
        (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
        // tail_id 1000 descriptors behind head_id; vmcore-dmesg would walk all of them.
        ulong tailIdAddress = ring.RingBufferAddress + (ulong)(PrintkLayout.Linux61.DescRing + PrintkLayout.Linux61.TailId);
        memory.WriteUInt64(tailIdAddress, (ring.HeadId - 1000) & ((1UL << 62) - 1));

        KernelLog log = Read(memory);

        Assert.That(DmesgFormatter.Format(log.Records), Is.EqualTo(PrintkScenarios.WrappedRingDmesg));
        Assert.That(log.Problems, Has.One.Contains("1001 descriptors apart but the ring has 8"));
    }

    [Test]
    public void Text_block_shorter_than_its_id_is_skipped_as_corrupt()
    {
        (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
        // Record 6 (slot 6) gets lpos next = begin + 4.
        ulong desc6 = ring.DescsAddress + 6 * 24;
        ulong begin = memory.Virtual.ReadUInt64(desc6 + 8);
        memory.WriteUInt64(desc6 + 16, begin + 4);

        KernelLog log = Read(memory);

        Assert.That(log.Records.Select(r => r.Sequence), Is.EqualTo(new ulong?[] { 3, 4, 5, 7 }));
        Assert.That(log.Problems, Has.One.EqualTo("1 printk records were skipped as corrupt; the first: record seq 6 (descriptor 0x3ffffffffffffffe) has a text block of 4 bytes, too short for its ID"));
    }

    [Test]
    public void Descriptor_whose_id_does_not_match_is_skipped()
    {
        (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
        // Slot 4 (record 4) claims to be descriptor 4 wraps later: desc_miss, like a reused slot.
        ulong desc4 = ring.DescsAddress + 4 * 24;
        ulong stateVar = memory.Virtual.ReadUInt64(desc4);
        memory.WriteUInt64(desc4, stateVar + 8);

        KernelLog log = Read(memory);

        Assert.That(log.Records.Select(r => r.Sequence), Is.EqualTo(new ulong?[] { 3, 5, 6, 7 }));
        Assert.That(log.Problems, Is.Empty);
    }

    [Test]
    public void Implausible_count_bits_is_rejected()
    {
        (KernelMemoryBuilder memory, PrintkRingBuilder ring) = PrintkScenarios.WrappedRing();
        memory.WriteUInt32(ring.RingBufferAddress + (ulong)PrintkLayout.Linux61.CountBits, 40);

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("count_bits = 40"));
    }

    [Test]
    public void No_printk_symbols_at_all_is_a_kernel_data_error()
    {
        var memory = new KernelMemoryBuilder();
        memory.Vmcoreinfo.Set("OSRELEASE", "6.1.0-18-amd64");

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("SYMBOL(prb)"));
    }
}
