using System.Text;
using KdumpSharp.Kernel.Panic;
using KdumpSharp.Kernel.Printk;

namespace KdumpSharp.Tests.Kernel.Printk;

public class SavedDmesgTests
{
    /// <summary>vmcore-dmesg's text (checked against the real tool elsewhere) parses back into records that print the same bytes:
    /// multi-line records, a data-less record and escapes included.</summary>
    [Test]
    public void Parsing_vmcore_dmesg_text_round_trips()
    {
        IReadOnlyList<LogRecord> records = SavedDmesg.Parse(Encoding.ASCII.GetBytes(PrintkScenarios.WrappedRingDmesg), 100);

        Assert.That(records, Has.Count.EqualTo(5));
        Assert.That(records[1].TimestampNanoseconds, Is.EqualTo(12_345_678_000UL));
        Assert.That(DmesgFormatter.Format(records), Is.EqualTo(PrintkScenarios.WrappedRingDmesg));
    }

    [Test]
    public void The_panic_is_found_in_a_saved_log()
    {
        byte[] text = Encoding.ASCII.GetBytes(
            "[    5.100000] sysrq: Trigger a crash\n" +
            "[    5.100100] Kernel panic - not syncing: sysrq triggered crash\n" +
            "[    5.100200] CPU: 0 PID: 1 Comm: init Kdump: loaded Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2\n");

        PanicReport? report = PanicReport.Find(SavedDmesg.Parse(text, 100));

        Assert.That(report?.Message.Text, Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
        Assert.That((report!.Banner?.Pid, report.Banner?.Comm), Is.EqualTo(((int?)1, "init")));
    }

    [Test]
    public void Record_count_is_capped_and_text_before_the_first_record_is_ignored()
    {
        byte[] text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("[    1.000000] x\nnot a record at the start\n", 50)) + "[broken\n");

        Assert.That(SavedDmesg.Parse(text, 10), Has.Count.EqualTo(10));
        Assert.That(SavedDmesg.Parse("no records here\n"u8, 10), Is.Empty);
    }
}
