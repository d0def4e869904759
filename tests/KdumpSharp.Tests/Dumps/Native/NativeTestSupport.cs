using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Dumps.Kdump;

namespace KdumpSharp.Tests.Dumps.Native;

internal static class NativeTestSupport
{
    /// <summary>
    /// A machine shaped like a small PC: RAM [0, 0x9fc00) (the last page partial), [1 MiB, 1 MiB + 200
    /// pages) and [4 MiB, 4 MiB + 40 pages), with holes between. Pattern pages, with: 0x10-0x17 and
    /// 0x150 all zero, 0x20-0x23 random (they do not compress), 0x30-0x3f, 0x120 and 0x405 excluded,
    /// 0x41 unreadable, 0x160-0x162 lost.
    /// </summary>
    public static FakeDumpReader Source(IReadOnlyList<ElfNote>? notes = null, bool withLostPages = true)
    {
        var memory = new SparsePhysicalMemory(
            PhysicalRange.FromLength(0, 0x9fc00),
            PhysicalRange.FromLength(0x100000, 200 * 4096),
            PhysicalRange.FromLength(0x400000, 40 * 4096));
        foreach ((ulong first, ulong end) in new[] { (0x0UL, 0xa0UL), (0x100UL, 0x1c8UL), (0x400UL, 0x428UL) })
            for (ulong pfn = first; pfn < end; pfn++)
                if (pfn is not (>= 0x10 and < 0x18 or 0x150))
                    memory.Write(pfn * 4096, KdumpCompressedBuilder.Pattern(pfn));
        var random = new Random(20);
        for (ulong pfn = 0x20; pfn < 0x24; pfn++)
        {
            var page = new byte[4096];
            random.NextBytes(page);
            memory.Write(pfn * 4096, page);
        }
        foreach (ulong pfn in Enumerable.Range(0x30, 16).Select(p => (ulong)p).Append(0x120UL).Append(0x405UL))
            memory.SetState(new PageFrameNumber(pfn), PageState.Excluded);
        memory.SetState(new PageFrameNumber(0x41), PageState.Unreadable);
        if (withLostPages)
            foreach (ulong pfn in new ulong[] { 0x160, 0x161, 0x162 })
                memory.SetState(new PageFrameNumber(pfn), PageState.Lost);
        return new FakeDumpReader(memory, notes ?? [FakeDumpReader.PrStatusNote(1), FakeDumpReader.VmcoreinfoNote(KdumpTestSupport.VmcoreinfoText), FakeDumpReader.PrStatusNote(2)],
            new DumpProperties { Format = DumpFormat.Elf, DumpLevel = 31 });
    }

    public const ulong RepeatingRamPages = 300;

    /// <summary>
    /// 300 RAM pages at pfn 0x100 where pages repeat: pfn p holds pattern (p mod 37) unless p is a multiple
    /// of 11 (all zero) or of 13 (its own random bytes), and 0x180-0x18f are excluded. So the first
    /// occurrence of each of the 37 patterns is stored, later ones are copies, zero pages stay zero.
    /// </summary>
    public static FakeDumpReader RepeatingSource(out long expectedStored, out long expectedCopies, IReadOnlyList<ElfNote>? notes = null)
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0x100000, RepeatingRamPages * 4096));
        var random = new Random(7);
        var seen = new HashSet<ulong>();
        expectedStored = expectedCopies = 0;
        for (ulong pfn = 0x100; pfn < 0x100 + RepeatingRamPages; pfn++)
        {
            if (pfn is >= 0x180 and < 0x190)
            {
                memory.SetState(new PageFrameNumber(pfn), PageState.Excluded);
                continue;
            }
            if (pfn % 11 == 0)
                continue;
            byte[] page;
            if (pfn % 13 == 0)
            {
                page = new byte[4096];
                random.NextBytes(page);
                expectedStored++;
            }
            else
            {
                page = KdumpCompressedBuilder.Pattern(pfn % 37);
                if (seen.Add(pfn % 37))
                    expectedStored++;
                else
                    expectedCopies++;
            }
            memory.Write(pfn * 4096, page);
        }
        return new FakeDumpReader(memory, notes ?? [FakeDumpReader.PrStatusNote(1), FakeDumpReader.VmcoreinfoNote(KdumpTestSupport.VmcoreinfoText)],
            new DumpProperties { Format = DumpFormat.Elf, DumpLevel = 31 });
    }

    /// <summary>The source above without the lost pages, so a conversion of it is a complete dump.</summary>
    public static FakeDumpReader CompleteSource() => Source(withLostPages: false);

    /// <summary>Every pfn the source's ranges touch.</summary>
    public static IEnumerable<ulong> RamPfns(IDumpReader source) =>
        source.Memory.Ranges.SelectMany(r => Enumerable.Range(0, (int)((r.End.Value + 4095) / 4096 - r.Start.Frame.Value)).Select(i => r.Start.Frame.Value + (ulong)i));

    public static byte[] Write(IDumpReader source, NativeDumpWriterOptions? options = null) => Write(source, options, out _);

    public static byte[] Write(IDumpReader source, NativeDumpWriterOptions? options, out NativeWriteResult result)
    {
        using var output = new MemoryStream();
        result = NativeDumpWriter.Write(source, output, options);
        return output.ToArray();
    }

    public static NativeDumpReader Open(byte[] file, DumpLimits? limits = null) =>
        NativeDumpReader.Open(new MemorySource("test.kds", file), limits ?? DumpLimits.Default);

    /// <summary>Compares pages with SequenceEqual: NUnit's element-wise array equality costs milliseconds per page,
    /// and these tests compare hundreds of thousands.</summary>
    public static void AssertSamePage(byte[] actual, byte[] expected, string message)
    {
        if (!actual.AsSpan().SequenceEqual(expected))
            Assert.Fail($"{message}: the page differs from byte {actual.AsSpan().CommonPrefixLength(expected)} on");
    }

    /// <summary>Each pfn reads from <paramref name="actual"/> with the state (by ReadPage and by GetPageState) and,
    /// when present, the bytes it has in <paramref name="expected"/>.</summary>
    public static void AssertReadsLike(PhysicalMemory actual, PhysicalMemory expected, IEnumerable<ulong> pfns, string context = "")
    {
        foreach (ulong pfn in pfns)
        {
            byte[] want = Read(expected, pfn, out PageState expectedState);
            byte[] got = Read(actual, pfn, out PageState state);
            Assert.That(state, Is.EqualTo(expectedState), $"{context}pfn 0x{pfn:x}");
            Assert.That(actual.GetPageState(new PageFrameNumber(pfn)), Is.EqualTo(expectedState), $"{context}pfn 0x{pfn:x} state alone");
            if (state == PageState.Present)
                AssertSamePage(got, want, $"{context}pfn 0x{pfn:x}");
        }
    }

    public static byte[] Read(PhysicalMemory memory, ulong pfn, out PageState state)
    {
        var page = new byte[PageFrameNumber.PageSize];
        state = memory.ReadPage(new PageFrameNumber(pfn), page);
        return page;
    }
}

/// <summary>
/// The records of a native dump as docs/format.md §3 lays them out, parsed here independently of the
/// product: a 64-byte header, then 40-byte record headers each followed by its payload and padding to 8.
/// </summary>
internal sealed record NativeRecord(long Offset, ushort Type, long PayloadLength, ulong Arg0, ulong Arg1)
{
    public const ushort Chunk = 0x0001, IndexBlock = 0x0002, Index = 0x0003, Trailer = 0x0004;
    public const ushort Ranges = 0x0010, Notes = 0x0011, Capture = 0x0012, Dmesg = 0x0013, CaptureLog = 0x0014;

    public long PayloadOffset => Offset + 40;
    public long End => PayloadOffset + PayloadLength;

    public static List<NativeRecord> Walk(byte[] file)
    {
        var records = new List<NativeRecord>();
        long at = 64;
        while (at + 40 <= file.Length)
        {
            ReadOnlySpan<byte> h = file.AsSpan((int)at, 40);
            Assert.That(h[..4].ToArray(), Is.EqualTo("KDSR"u8.ToArray()), $"record magic at 0x{at:x}");
            var record = new NativeRecord(at, BinaryPrimitives.ReadUInt16LittleEndian(h[4..]), (long)BinaryPrimitives.ReadUInt64LittleEndian(h[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(h[16..]), BinaryPrimitives.ReadUInt64LittleEndian(h[24..]));
            records.Add(record);
            at = (record.End + 7) / 8 * 8;
        }
        Assert.That(at, Is.EqualTo(file.Length), "records end exactly at the end of the file");
        return records;
    }

    /// <summary>The payload bytes.</summary>
    public byte[] Payload(byte[] file) => file[(int)PayloadOffset..(int)End];
}

/// <summary>A write-only stream that cannot seek or tell its position, like a pipe or stdout.</summary>
internal sealed class PipeStream : Stream
{
    private readonly MemoryStream _inner = new();

    public byte[] ToArray() => _inner.ToArray();
    public int Flushes { get; private set; }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => Flushes++;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> buffer) => _inner.Write(buffer);
}
