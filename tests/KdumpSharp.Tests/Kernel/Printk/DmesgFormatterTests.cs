using System.Text;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

public class DmesgFormatterTests
{
    private static LogRecord Text(ulong ts, string text, uint? caller = null) =>
        new(LogRecordKind.Text, null, ts, caller is uint c ? new PrintkCaller(c) : null, Encoding.ASCII.GetBytes(text));

    private static LogRecord Bytes(params byte[] text) => new(LogRecordKind.Text, null, 0, null, text);

    [TestCase(0UL, "[    0.000000] x\n")]
    [TestCase(999UL, "[    0.000000] x\n")]
    [TestCase(1_000UL, "[    0.000001] x\n")]
    [TestCase(1_999_999_999UL, "[    1.999999] x\n")]
    [TestCase(99_999_000_000_000UL, "[99999.000000] x\n")]
    [TestCase(100_000_000_000_000UL, "[100000.000000] x\n")]
    [TestCase(ulong.MaxValue, "[18446744073.709551] x\n")]
    public void Timestamp_is_seconds_in_five_columns_and_six_digit_microseconds(ulong ts, string expected)
    {
        Assert.That(DmesgFormatter.Format([Text(ts, "x")]), Is.EqualTo(expected));
    }

    [TestCase((byte)0x00, "\\x00")]
    [TestCase((byte)0x08, "\\x08")]
    [TestCase((byte)0x09, "\t")]
    [TestCase((byte)0x0a, "\n")]
    [TestCase((byte)0x0d, "\r")]
    [TestCase((byte)0x0e, "\\x0e")]
    [TestCase((byte)0x1f, "\\x1f")]
    [TestCase((byte)0x20, " ")]
    [TestCase((byte)0x7e, "~")]
    [TestCase((byte)0x7f, "\\x7f")]
    [TestCase((byte)0x80, "\\x80")]
    [TestCase((byte)0xab, "\\xab")]
    [TestCase((byte)0xff, "\\xff")]
    public void Bytes_outside_isprint_and_isspace_are_escaped_in_lowercase_hex(byte b, string expected)
    {
        Assert.That(DmesgFormatter.Format([Bytes(b)]), Is.EqualTo("[    0.000000] " + expected + "\n"));
    }

    [Test]
    public void Multi_line_records_continue_without_prefix_and_data_less_records_print_an_empty_line()
    {
        LogRecord[] records =
        [
            Text(1_500_000_000, "first line\nsecond line"),
            new(LogRecordKind.DataLess, 7, 2_000_000_000, new PrintkCaller(1), ReadOnlyMemory<byte>.Empty),
            new(LogRecordKind.WrapMarker, null, 0, null, ReadOnlyMemory<byte>.Empty),
        ];

        Assert.That(DmesgFormatter.Format(records), Is.EqualTo("[    1.500000] first line\nsecond line\n[    2.000000] \n[    0.000000] \n"));
    }

    [Test]
    public void Caller_column_follows_makedumpfile()
    {
        LogRecord[] records = [Text(1_000_000_000, "task", 123), Text(2_000_000_000, "irq", PrintkScenarios.CpuCaller | 1), Text(3_000_000_000, "old kernel")];

        string output = DmesgFormatter.Format(records, new DmesgOptions { ShowCaller = true });

        Assert.That(output, Is.EqualTo("[    1.000000] [    T123] task\n[    2.000000] [      C1] irq\n[    3.000000] old kernel\n"));
    }

    [Test]
    public void Wall_clock_counts_back_from_crashtime_at_the_newest_record()
    {
        // CRASHTIME 1700000000 = Tue Nov 14 22:13:20 UTC 2023, stamped on the newest record (100 s).
        var memory = new KernelMemoryBuilder();
        memory.Vmcoreinfo.Set("CRASHTIME", "1700000000");
        var log = new KernelLogStub([Text(40_500_000_000, "a"), Text(100_000_000_000, "b"), Text(60_000_000_000, "out of order")]);
        DmesgWallClock? clock = DmesgWallClock.FromLog(log.Log, memory.Vmcoreinfo.Build());

        string output = DmesgFormatter.Format(log.Log.Records, new DmesgOptions { WallClock = clock });

        // 40.5 s is 59.5 s before the crash: 22:12:20.5, shown as 22:12:20.
        Assert.That(output, Is.EqualTo(
            "[Tue Nov 14 22:12:20 UTC 2023] a\n" +
            "[Tue Nov 14 22:13:20 UTC 2023] b\n" +
            "[Tue Nov 14 22:12:40 UTC 2023] out of order\n"));
    }

    [Test]
    public void Wall_clock_pads_single_digit_days_like_strftime_e()
    {
        // 1699000000 = Fri Nov  3 08:26:40 UTC 2023.
        var clock = new DmesgWallClock(1_699_000_000, 5_000_000_000);

        Assert.That(DmesgFormatter.Format([Text(5_000_000_000, "x")], new DmesgOptions { WallClock = clock }), Is.EqualTo("[Fri Nov  3 08:26:40 UTC 2023] x\n"));
    }

    [Test]
    public void Wall_clock_rounds_down_before_the_epoch_too()
    {
        var clock = new DmesgWallClock(0, 10_000_000_000);

        Assert.That(clock.UnixSecondsAt(9_500_000_000), Is.EqualTo(-1));
        Assert.That(clock.UnixSecondsAt(9_000_000_000), Is.EqualTo(-1));
        Assert.That(clock.UnixSecondsAt(8_999_999_999), Is.EqualTo(-2));
    }

    [Test]
    public void Absurd_crashtime_prints_the_number_instead_of_throwing()
    {
        var clock = new DmesgWallClock(long.MaxValue / 1_000_000_000 * 1_000_000_000, 0);

        Assert.That(DmesgFormatter.Format([Text(0, "x")], new DmesgOptions { WallClock = clock }), Does.StartWith("[9223372036000000000] x"));
    }

    [Test]
    public void Wall_clock_needs_crashtime()
    {
        var log = new KernelLogStub([Text(1, "a")]);

        Assert.That(DmesgWallClock.FromLog(log.Log, new VmcoreinfoBuilder().Build()), Is.Null);
    }

    [Test]
    public void Write_streams_the_same_bytes_as_format()
    {
        LogRecord[] records = [Text(1, "one"), Bytes(0xff, (byte)'a')];
        using var stream = new MemoryStream();

        DmesgFormatter.Write(stream, records);

        Assert.That(Encoding.ASCII.GetString(stream.ToArray()), Is.EqualTo(DmesgFormatter.Format(records)));
    }

    /// <summary>A <see cref="KernelLog"/> over given records, read from a real lockless ring built to hold them.</summary>
    private sealed class KernelLogStub
    {
        public KernelLogStub(LogRecord[] records)
        {
            var ring = new PrintkRingBuilder(countBits: 4, sizeBits: 12);
            foreach (LogRecord r in records)
                ring.Add(r.Text.ToArray(), r.TimestampNanoseconds, 0);
            var memory = new KernelMemoryBuilder();
            ring.WriteTo(memory);
            Log = KernelLog.Read(memory.Virtual, memory.Vmcoreinfo.Build(), KdumpSharp.Dumps.DumpLimits.Default);
        }

        public KernelLog Log { get; }
    }
}
