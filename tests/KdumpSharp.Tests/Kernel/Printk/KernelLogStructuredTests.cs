using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

public class KernelLogStructuredTests
{
    private static KernelLog Read(KernelMemoryBuilder memory, DumpLimits? limits = null) =>
        KernelLog.Read(memory.Virtual, memory.Vmcoreinfo.Build(), limits ?? DumpLimits.Default);

    [Test]
    public void Walk_follows_first_to_next_through_the_wrap_marker()
    {
        (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
        Assert.That((log.FirstIndex, log.NextIndex), Is.EqualTo((84u, 64u)), "scenario as worked out by hand");

        KernelLog result = Read(memory);

        Assert.That(result.Format, Is.EqualTo(KernelLogFormat.Structured));
        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Records.Select(r => (r.Kind, r.Sequence, r.TimestampNanoseconds, r.Caller, Encoding.ASCII.GetString(r.Text.Span))), Is.EqualTo(new[]
        {
            (LogRecordKind.Text, (ulong?)null, 4_000_000_000UL, (PrintkCaller?)null, "delta delta delta"),
            (LogRecordKind.WrapMarker, null, 0UL, null, ""),
            (LogRecordKind.Text, null, 5_000_000_000UL, null, "echo, the wrapping one"),
            (LogRecordKind.Text, null, 6_000_000_000UL, null, "foxtrot"),
        }));
    }

    [Test]
    public void Caller_id_is_read_when_vmcoreinfo_exports_its_offset()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedLegacyLog(withCaller: true);

        KernelLog result = Read(memory);

        Assert.That(result.Records.Select(r => r.Caller?.ToString()), Is.EqualTo(new[] { "T3", "T0", "C2", "T4" }));
        Assert.That(DmesgFormatter.Format(result.Records), Is.EqualTo(PrintkScenarios.WrappedLegacyDmesg));
    }

    [Test]
    public void Kernels_before_3_11_name_the_structure_log()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedLegacyLog(structName: "log");

        Assert.That(DmesgFormatter.Format(Read(memory).Records), Is.EqualTo(PrintkScenarios.WrappedLegacyDmesg));
    }

    [Test]
    public void Record_length_leading_outside_the_buffer_ends_the_walk_with_a_problem()
    {
        (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
        // echo (at 0) claims 150 bytes: 150 > 160 − 16.
        memory.Write(log.BufferAddress + 8, [150, 0]);

        KernelLog result = Read(memory);

        Assert.That(result.Records.Select(r => r.TimestampNanoseconds), Is.EqualTo(new ulong[] { 4_000_000_000, 0, 5_000_000_000 }));
        Assert.That(result.Problems, Is.EqualTo(new[] { "log_buf walk stopped: the record at offset 0 is 150 bytes long, which leads outside log_buf (160 bytes)" }));
    }

    [Test]
    public void Second_wrap_marker_ends_the_walk()
    {
        (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
        // foxtrot (at 40) becomes a wrap marker too: the walk would cycle forever.
        memory.Write(log.BufferAddress + 40 + 8, [0, 0]);

        KernelLog result = Read(memory);

        Assert.That(result.Records, Has.Count.EqualTo(4));
        Assert.That(result.Problems, Is.EqualTo(new[] { "log_buf walk stopped at offset 40: a second wrap marker (the buffer is corrupt)" }));
    }

    [Test]
    public void Indexes_outside_the_buffer_are_rejected()
    {
        (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
        memory.WriteUInt32(log.FirstIndexAddress, 145);

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("log_first_idx = 145"));
    }

    [Test]
    public void Buffer_length_is_checked_against_the_limit()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedLegacyLog();

        Assert.That(() => Read(memory, DumpLimits.Default with { MaxLogBufferBytes = 159 }),
            Throws.TypeOf<KernelDataException>().With.Message.Contains("log_buf_len = 160"));
    }

    [Test]
    public void Record_limit_stops_the_walk()
    {
        (KernelMemoryBuilder memory, _) = PrintkScenarios.WrappedLegacyLog();

        KernelLog result = Read(memory, DumpLimits.Default with { MaxLogRecords = 2 });

        Assert.That(result.Records, Has.Count.EqualTo(2));
        Assert.That(result.Problems, Has.One.StartWith("log_buf walk stopped after 2 records"));
    }

    [Test]
    public void Unreadable_header_stops_the_walk_but_keeps_what_came_before()
    {
        var log = new LegacyLogBuilder(3 * 4096);
        for (int i = 0; i < 100; i++)
            log.Add($"message {i:D3} " + new string('-', 80), (ulong)i * 1_000_000);
        var memory = new KernelMemoryBuilder();
        log.WriteTo(memory);
        // Records are 16 + 92 = 108 bytes, 10800 in all: no wrap. Drop the buffer's second page:
        // record 37 (at 3996) has its header but not its text, record 38's header (4104) is gone.
        Assert.That(log.FirstIndex, Is.Zero);
        memory.Drop(log.BufferAddress + 4096);

        KernelLog result = Read(memory);

        Assert.That(result.Records.Select(r => r.TimestampNanoseconds / 1_000_000), Is.EqualTo(Enumerable.Range(0, 37).Select(i => (ulong)i)));
        Assert.That(result.Problems, Has.Count.EqualTo(3));
        Assert.That(result.Problems[1], Is.EqualTo("log_buf walk stopped at offset 4104: the record header is unreadable, so the next record cannot be found"));
        Assert.That(result.Problems[2], Is.EqualTo("1 log_buf records were skipped because their text lies in memory the dump does not hold"));
    }

    [Test]
    public void Missing_index_variable_page_is_a_memory_fault()
    {
        (KernelMemoryBuilder memory, LegacyLogBuilder log) = PrintkScenarios.WrappedLegacyLog();
        memory.Drop(log.NextIndexAddress);

        Assert.That(() => Read(memory), Throws.TypeOf<MemoryFaultException>());
    }

    [Test]
    public void Kernels_before_3_5_are_reported_as_unsupported()
    {
        var memory = new KernelMemoryBuilder();
        memory.Vmcoreinfo.Symbol("log_buf", KernelMemoryBuilder.VirtualBase).Symbol("log_end", KernelMemoryBuilder.VirtualBase + 8);

        Assert.That(() => Read(memory), Throws.TypeOf<KernelDataException>().With.Message.Contains("predates 3.5"));
    }
}
