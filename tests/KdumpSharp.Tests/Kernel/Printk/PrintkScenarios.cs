using System.Text;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

/// <summary>Synthetic logs shared by the reader, formatter and vmcore-dmesg comparison tests.</summary>
internal static class PrintkScenarios
{
    public const uint CpuCaller = 0x8000_0000;

    /// <summary>Record 6's text: escapes, a UTF-8 'é', and the five control bytes isspace() lets through.</summary>
    public static readonly byte[] OddBytes = [.. "esc"u8, 0x1b, .. "[1mB"u8, 0x7f, (byte)' ', 0xc3, 0xa9, (byte)'\t', .. "tab"u8, 0x00, .. "end"u8, (byte)'\r', 0x0b, 0x0c];

    /// <summary>What vmcore-dmesg prints for <see cref="WrappedRing"/> (checked against the real tool in VmcoreDmesgComparisonTests).</summary>
    public const string WrappedRingDmesg =
        "[    3.000123] multi-line record:\n  second line\n  third\n" +
        "[   12.345678] wrapped block text!!\n" +
        "[   99.999999] \n" +
        "[  123.456789] esc\\x1b[1mB\\x7f \\xc3\\xa9\ttab\\x00end\r\v\f\n" +
        "[123456.000000] truncated at 16.\n";

    /// <summary>
    /// 8 descriptors, a 256-byte text ring. Worked through by hand (lpos relative to the initial −256):
    /// r0 [0,40) r1 [40,112) r2 [112,200) r3 [200,248); r4 does not fit in the 8 bytes left, so its
    /// block sits at [0,32) with lpos begin at 248 (wrapped) and r0 is dropped; r5 has no data; r6
    /// reserves 50 bytes for 23 ([32,96), drops r1); r7 is committed but not finalized, its text_len
    /// (100) is longer than its block (16 bytes of text) ([96,120), drops r2); r8 takes r0's descriptor
    /// (pushing tail_id to r1) and is still reserved. tail..head = r1..r8: r1 and r2 are reusable,
    /// r8 reserved, so the log is r3–r7.
    /// </summary>
    public static (KernelMemoryBuilder Memory, PrintkRingBuilder Ring) WrappedRing(PrintkLayout? layout = null)
    {
        var ring = new PrintkRingBuilder(countBits: 3, sizeBits: 8, layout);
        ring.Add("Linux version 6.1.0-18-amd64", 0, 0);
        ring.Add("r1 " + new string('a', 57), 1_000_000, 1);
        ring.Add("r2 " + new string('b', 77), 2_000_000, 1);
        ring.Add("multi-line record:\n  second line\n  third", 3_000_123_456, 1);
        ring.Add("wrapped block text!!", 12_345_678_901, CpuCaller | 1);
        ring.AddDataLess(99_999_999_999, 2);
        ring.Add(OddBytes, 123_456_789_012, 612, reserved: 50);
        ring.Add(Encoding.ASCII.GetBytes("truncated at 16."), 123_456_000_000_000, 7, DescState.Committed, textLength: 100);
        ring.Add("being written", 200_000_000_000, 8, DescState.Reserved);
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);
        return (memory, ring);
    }

    /// <summary>
    /// A 6.19+ ring (exact-fit placement): r0 [0,128), r1 [128,256) ending exactly at the ring's end
    /// (lpos next = the next wrap's start, 0 modulo 256), r2 [0,24) of the next wrap, dropping r0.
    /// Returns r1's text.
    /// </summary>
    public static (KernelMemoryBuilder Memory, string Fitting) ExactFitRing()
    {
        var ring = new PrintkRingBuilder(countBits: 3, sizeBits: 8, exactFitAtEnd: true);
        string fitting = "exact fit " + new string('e', 110);
        ring.Add("r0 " + new string('0', 117), 1_000_000_000, 1);
        ring.Add(fitting, 2_000_000_000, 1);
        ring.Add("after", 3_000_000_000, 1);
        var memory = new KernelMemoryBuilder();
        ring.WriteTo(memory);
        return (memory, fitting);
    }

    /// <summary>What vmcore-dmesg prints for <see cref="WrappedLegacyLog"/>: note the empty line for the wrap marker.</summary>
    public const string WrappedLegacyDmesg =
        "[    4.000000] delta delta delta\n" +
        "[    0.000000] \n" +
        "[    5.000000] echo, the wrapping one\n" +
        "[    6.000000] foxtrot\n";

    /// <summary>
    /// A 160-byte log_buf with 16-byte headers, worked through by hand: alpha [0,24) bravo [24,48)
    /// charlie+dict [48,84) delta+dict [84,132); echo (40 bytes) needs 56 free, so alpha, bravo and
    /// charlie are dropped (first = 84) and, 132 + 40 + 16 being past 160, a zeroed header marks 132
    /// and echo goes to [0,40); foxtrot [40,64). The walk: delta, marker, echo, foxtrot.
    /// </summary>
    public static (KernelMemoryBuilder Memory, LegacyLogBuilder Log) WrappedLegacyLog(bool withCaller = false, string structName = "printk_log")
    {
        var log = new LegacyLogBuilder(withCaller ? 200 : 160, withCaller, structName);
        log.Add("alpha", 1_000_000_000, callerId: 1)
            .Add("bravo!", 2_000_000_000, callerId: 1)
            .Add("charlie", 3_000_000_000, "DEVICE=+pci:1", callerId: 2)
            .Add("delta delta delta", 4_000_000_000, "DEVICE=+pci:1", callerId: 3)
            .Add("echo, the wrapping one", 5_000_000_000, callerId: CpuCaller | 2)
            .Add("foxtrot", 6_000_000_000, callerId: 4);
        var memory = new KernelMemoryBuilder();
        log.WriteTo(memory);
        return (memory, log);
    }
}
