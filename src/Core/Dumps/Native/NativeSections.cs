using System.Text;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Payloads of the typed metadata sections (docs/format.md §6): each encoder writes the fields in
/// order, each decoder reads them through a <see cref="SectionReader"/> and validates counts against
/// the payload and <see cref="DumpLimits"/> before allocating.
/// </summary>
internal static class NativeSections
{
    private const int RangeSize = 2 * sizeof(ulong);
    private const int PageCountSize = 2 * sizeof(ulong);
    private const int MaxTimings = 4096;

    public static byte[] EncodeRanges(IReadOnlyList<PhysicalRange> ranges)
    {
        var w = new SectionWriter().UInt64((ulong)ranges.Count);
        foreach (PhysicalRange r in ranges)
            w.UInt64(r.Start.Value).UInt64(r.End.Value);
        return w.ToArray();
    }

    /// <summary>The RAM ranges: sorted, disjoint, non-empty, inside the page-frame limit.</summary>
    public static List<PhysicalRange> DecodeRanges(ReadOnlySpan<byte> payload, string source, long offset, DumpLimits limits)
    {
        var r = new SectionReader(payload, source, offset, "the Ranges section");
        int count = r.CheckCount(r.ReadUInt64(), RangeSize, limits.MaxProgramHeaders);
        var ranges = new List<PhysicalRange>(count);
        ulong previousEnd = 0;
        for (int i = 0; i < count; i++)
        {
            ulong start = r.ReadUInt64(), end = r.ReadUInt64();
            if (start >= end || start < previousEnd || (end - 1) >> PageFrameNumber.PageShift >= limits.MaxPageFrames)
                DumpThrow.Corrupt(source, $"the Ranges section: range {i} [0x{start:x}, 0x{end:x}) is empty, out of order, overlapping or beyond the {limits.MaxPageFrames}-page limit",
                    offset + sizeof(ulong) + (long)i * RangeSize);
            ranges.Add(new PhysicalRange(new PhysicalAddress(start), new PhysicalAddress(end)));
            previousEnd = end;
        }
        return ranges;
    }

    public static byte[] EncodeCapture(int? dumpLevel, CaptureIdentity identity)
    {
        var w = new SectionWriter()
            .Int32(dumpLevel ?? -1)
            .UInt32(0)
            .Int64(identity.CaptureStarted?.ToUnixTimeMilliseconds() ?? 0)
            .String(identity.Hostname)
            .String(identity.Tool)
            .String(identity.CaptureKernelRelease);
        if (identity.CrashedKernel is UtsName u)
            w.Byte(1).String(u.SysName).String(u.NodeName).String(u.Release).String(u.Version).String(u.Machine).String(u.DomainName);
        else
            w.Byte(0);
        return w.ToArray();
    }

    public static (int? DumpLevel, CaptureIdentity Identity) DecodeCapture(ReadOnlySpan<byte> payload, string source, long offset)
    {
        var r = new SectionReader(payload, source, offset, "the Capture section");
        int level = r.ReadInt32(absent: -1);
        r.ReadUInt32();
        long started = r.ReadInt64();
        string? host = Blank(r.ReadString()), tool = Blank(r.ReadString()), captureKernel = Blank(r.ReadString());
        UtsName? uts = null;
        if (r.ReadByte() == 1)
            uts = new UtsName(r.ReadString() ?? "", r.ReadString() ?? "", r.ReadString() ?? "", r.ReadString() ?? "", r.ReadString() ?? "", r.ReadString() ?? "");
        var identity = new CaptureIdentity
        {
            Hostname = host,
            Tool = tool,
            CaptureKernelRelease = captureKernel,
            CrashedKernel = uts,
            CaptureStarted = started == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(started, -62135596800000, 253402300799999)),
        };
        return (level < 0 ? null : level, identity);
    }

    public static byte[] EncodeTimings(IReadOnlyList<CaptureTiming> timings)
    {
        var w = new SectionWriter().UInt32((uint)timings.Count).UInt32(0);
        foreach (CaptureTiming t in timings)
            w.String(t.Step).Int64(Nanoseconds(t.Start)).Int64(Nanoseconds(t.Duration));
        return w.ToArray();
    }

    public static List<CaptureTiming> DecodeTimings(ReadOnlySpan<byte> payload, string source, long offset)
    {
        var r = new SectionReader(payload, source, offset, "the Timings section");
        // Each entry is at least a 2-byte string length and two i64s.
        int count = r.CheckCount(r.ReadUInt32(), sizeof(ushort) + 2 * sizeof(long), MaxTimings);
        r.ReadUInt32();
        var timings = new List<CaptureTiming>(count);
        for (int i = 0; i < count; i++)
            timings.Add(new CaptureTiming(r.ReadString() ?? "", FromNanoseconds(r.ReadInt64()), FromNanoseconds(r.ReadInt64())));
        return timings;
    }

    public static byte[] EncodePageCounts(PageTally tally)
    {
        var kinds = tally.NonZero().ToList();
        var w = new SectionWriter().UInt32((uint)kinds.Count).UInt32(0);
        foreach ((PageKind kind, long pages) in kinds)
            w.Byte((byte)kind).Zeros(7).UInt64((ulong)pages);
        return w.ToArray();
    }

    public static PageCounts DecodePageCounts(ReadOnlySpan<byte> payload, string source, long offset)
    {
        var r = new SectionReader(payload, source, offset, "the PageCounts section");
        int count = r.CheckCount(r.ReadUInt32(), PageCountSize, 256);
        r.ReadUInt32();
        var tally = new PageTally();
        for (int i = 0; i < count; i++)
        {
            var kind = (PageKind)r.ReadByte();
            r.Skip(7);
            ulong pages = r.ReadUInt64();
            if (pages > long.MaxValue / 256)
                DumpThrow.Corrupt(source, $"the PageCounts section: {pages} pages of kind {(int)kind}", offset);
            tally.Add(kind, (long)pages);
        }
        return tally.ToPageCounts();
    }

    public static byte[] EncodeText(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Blank(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static long Nanoseconds(TimeSpan t) => t.Ticks * 100;

    private static TimeSpan FromNanoseconds(long ns) => TimeSpan.FromTicks(ns / 100);
}
