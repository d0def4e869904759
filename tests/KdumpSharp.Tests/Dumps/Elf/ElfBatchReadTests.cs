using KdumpSharp.Dumps.Elf;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Dumps.Elf;

/// <summary>
/// kds-capture reads an ELF vmcore a batch of pages at a time (<see cref="PhysicalMemory.ReadPages"/>):
/// every page must come back with the state and bytes <see cref="PhysicalMemory.ReadPage"/> gives it,
/// whatever the batch spans, and an I/O error must cost the bad page only.
/// </summary>
public class ElfBatchReadTests
{
    private static byte[] Pattern(int length, byte seed)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < b.Length; i++)
            b[i] = (byte)(i * 13 + seed + (i >> 12));
        return b;
    }

    /// <summary>A range ending mid-page (as 0x9fc00), a hole, adjacent segments, one cut at p_filesz, and a file cut short.</summary>
    private static byte[] Layout() => new ElfCoreBuilder()
        .AddLoad(0, Pattern(0x9fc00, 1))
        .AddLoad(0x100000, Pattern(0x8000, 2))
        .AddLoad(0x108000, Pattern(0x3000, 3), memorySize: 0x6000)
        .AddLoad(0x200000, Pattern(0x5000, 4))
        .Build();

    [TestCase(0x0, 0xa2)]
    [TestCase(0x9e, 4)]
    [TestCase(0xfe, 0x14)]
    [TestCase(0x104, 0x10)]
    [TestCase(0x1ff, 8)]
    public void A_batch_reads_every_page_as_page_by_page_reads_do(int first, int count)
    {
        byte[] file = Layout();
        // Cut the file inside the last segment, so its tail is Lost.
        using var reader = new ElfVmcoreReader(new MemorySource("batch.vmcore", file[..^0x2800]));
        byte[] batch = new byte[count * 4096];
        var states = new PageState[count];

        reader.Memory.ReadPages(new PageFrameNumber((ulong)first), count, batch, states);

        byte[] page = new byte[4096];
        for (int i = 0; i < count; i++)
        {
            PageState expected = reader.Memory.ReadPage(new PageFrameNumber((ulong)(first + i)), page);
            Assert.That(states[i], Is.EqualTo(expected), $"pfn 0x{first + i:x}");
            if (expected == PageState.Present)
                Assert.That(batch.AsSpan(i * 4096, 4096).SequenceEqual(page), Is.True, $"pfn 0x{first + i:x} bytes");
        }
        Assert.That(states, Does.Contain(PageState.Present));
    }

    [Test]
    public void An_io_error_in_a_batch_costs_the_bad_page_only()
    {
        byte[] file = new ElfCoreBuilder().AddLoad(0x100000, Pattern(0x10000, 5)).Build();
        long dataOffset = file.Length - 0x10000;
        // The page at pfn 0x105 is poisoned: any read touching it fails, as /proc/vmcore's does with EIO.
        var source = new FailingSource(file, dataOffset + 0x5000, 4096);
        using var reader = new ElfVmcoreReader(source);
        byte[] batch = new byte[16 * 4096];
        var states = new PageState[16];

        reader.Memory.ReadPages(new PageFrameNumber(0x100), 16, batch, states);

        for (int i = 0; i < 16; i++)
        {
            Assert.That(states[i], Is.EqualTo(i == 5 ? PageState.Unreadable : PageState.Present), $"page {i}");
            if (i != 5)
                Assert.That(batch.AsSpan(i * 4096, 4096).SequenceEqual(file.AsSpan((int)dataOffset + i * 4096, 4096)), Is.True, $"page {i} bytes");
        }
        Assert.That(source.Failures, Is.EqualTo(2), "the batch's read, then the bad page's own");
    }

    [Test]
    public void The_file_extent_is_given_only_for_pages_whole_in_one_segments_file_part()
    {
        byte[] file = Layout();
        using var reader = new ElfVmcoreReader(new MemorySource("extent.vmcore", file));
        long firstData = file.Length - (0x9fc00 + 0x8000 + 0x3000 + 0x5000);

        Assert.That(reader.Memory.TryGetFileExtent(new PageFrameNumber(0x10), 0x8f, out long offset), Is.True);
        Assert.That(offset, Is.EqualTo(firstData + 0x10000));
        Assert.That(reader.Memory.TryGetFileExtent(new PageFrameNumber(0x10), 0x90, out _), Is.False, "pfn 0x9f is only 0xc00 bytes of RAM");
        Assert.That(reader.Memory.TryGetFileExtent(new PageFrameNumber(0x104), 8, out _), Is.False, "crosses into the next segment");
        Assert.That(reader.Memory.TryGetFileExtent(new PageFrameNumber(0x108), 4, out _), Is.False, "past p_filesz");
        Assert.That(reader.Memory.TryGetFileExtent(new PageFrameNumber(0x150), 1, out _), Is.False, "a hole");
    }

    /// <summary>A dump whose reads fail with an I/O error when they touch [bad, bad + length).</summary>
    private sealed class FailingSource(byte[] bytes, long bad, int length) : DumpSource
    {
        public int Failures { get; private set; }
        public override string Name => "failing.vmcore";
        public override long Length => bytes.Length;

        public override int ReadAt(long offset, Span<byte> destination)
        {
            if (offset < bad + length && offset + destination.Length > bad)
            {
                Failures++;
                throw new IOException("Input/output error");
            }
            if (offset >= bytes.Length)
                return 0;
            int count = (int)Math.Min(destination.Length, bytes.Length - offset);
            bytes.AsSpan((int)offset, count).CopyTo(destination);
            return count;
        }

        public override void Dispose() { }
    }
}
