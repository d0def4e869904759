using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Dumps.Kdump;
using static KdumpSharp.Tests.Dumps.Native.NativeTestSupport;

namespace KdumpSharp.Tests.Dumps.Native;

public sealed class NativeDumpWriterTests
{
    private static readonly PageCompression[] Kinds = [PageCompression.Lz4, PageCompression.Zstd, PageCompression.None];

    private static IEnumerable<TestCaseData> Shapes()
    {
        foreach (PageCompression kind in Kinds)
            foreach (int chunkPages in new[] { 1, 4, 16 })
                foreach (int threads in new[] { 1, 2, 4 })
                    yield return new TestCaseData(kind, chunkPages, threads).SetName($"Round trip {PageCodec.DisplayName(kind)}, {chunkPages}-page chunks, {threads} threads");
    }

    [TestCaseSource(nameof(Shapes))]
    public void Every_page_round_trips_with_its_state(PageCompression kind, int chunkPages, int threads)
    {
        using FakeDumpReader source = Source();
        byte[] file = Write(source, new NativeDumpWriterOptions { Compression = kind, ChunkPages = chunkPages, Parallelism = threads }, out NativeWriteResult result);
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        AssertReadsLike(reader.Memory, source.Memory, RamPfns(source).Concat(new ulong[] { 0xa0, 0xff, 0x1c8, 0x3ff, 0x428, 0x100000 }));
        Assert.That(result.Pages, Is.EqualTo(new PageCounts { Stored = 369, Zero = 9, OtherExcluded = 18, ReadErrors = 1, NotCaptured = 3 }));
        Assert.That(result.Bytes, Is.EqualTo(file.Length));
        Assert.That(reader.PageCounts, Is.EqualTo(result.Pages));
        Assert.That(reader.ChunkCount, Is.EqualTo(result.Chunks));
    }

    [Test]
    public void Properties_say_native_compression_level_and_why_it_is_incomplete()
    {
        using FakeDumpReader source = Source();
        using NativeDumpReader reader = Open(Write(source, new NativeDumpWriterOptions { Compression = PageCompression.Zstd }));

        Assert.That(reader.Properties with { IncompleteReason = null }, Is.EqualTo(new DumpProperties
        {
            Format = DumpFormat.Native,
            Compression = "zstd",
            DumpLevel = 31,
            Version = 1,
            IsIncomplete = true,
        }));
        Assert.That(reader.Properties.IncompleteReason, Is.EqualTo("the source dump had lost 3 pages (the first at pfn 0x160)"));
    }

    [Test]
    public void A_complete_source_gives_a_complete_dump()
    {
        using FakeDumpReader source = CompleteSource();
        byte[] file = Write(source, null, out NativeWriteResult result);
        using NativeDumpReader reader = Open(file);

        Assert.That((reader.Properties.IsIncomplete, reader.Properties.IncompleteReason, result.IncompleteReason), Is.EqualTo((false, (string?)null, (string?)null)));
        Assert.That(result.Pages.NotCaptured, Is.Zero);
    }

    [Test]
    public void Notes_and_vmcoreinfo_come_back_in_order()
    {
        using FakeDumpReader source = Source();
        using NativeDumpReader reader = Open(Write(source));

        Assert.That(reader.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray())),
            Is.EqualTo(source.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray()))));
        Assert.That(reader.Vmcoreinfo!.Text, Is.EqualTo(KdumpTestSupport.VmcoreinfoText));
    }

    [Test]
    public void A_non_seekable_stream_gets_the_same_dump()
    {
        using FakeDumpReader source = CompleteSource();
        var pipe = new PipeStream();
        NativeDumpWriter.Write(source, pipe, new NativeDumpWriterOptions { Parallelism = 4, ChunkPages = 4 });
        byte[] file = pipe.ToArray();
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.Properties.IsIncomplete, Is.False, reader.Properties.IncompleteReason);
        foreach (ulong pfn in RamPfns(source))
            AssertSamePage(Read(reader.Memory, pfn, out _), Read(source.Memory, pfn, out _), $"pfn 0x{pfn:x}");
        Assert.That(pipe.Flushes, Is.GreaterThanOrEqualTo(4), "sections and the trailer are flushed as they are written");
    }

    [Test]
    public void Layout_follows_the_spec()
    {
        using FakeDumpReader source = Source();
        byte[] file = Write(source, new NativeDumpWriterOptions { ChunkPages = 4, Compression = PageCompression.Lz4 });
        List<NativeRecord> records = NativeRecord.Walk(file);

        // docs/format.md §2, checked at the offsets the spec gives.
        Assert.That(file[..8], Is.EqualTo(new byte[] { 0x89, 0x4b, 0x44, 0x53, 0x0d, 0x0a, 0x1a, 0x0a }));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8)), Is.EqualTo(1), "version");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(12)), Is.EqualTo(64), "header_size");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(24)), Is.EqualTo(4096), "page_size");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(28)), Is.EqualTo(1), "codec lz4");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(30)), Is.EqualTo(4), "chunk_pages");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(60)), Is.EqualTo(Crc32C.Compute(file.AsSpan(0, 60))), "header_crc");

        Assert.That(records.Take(4).Select(r => r.Type), Is.EqualTo(new[] { NativeRecord.Ranges, NativeRecord.Notes, NativeRecord.Capture, NativeRecord.Chunk }),
            "what a reader needs to interpret pages comes before any page (this source has no log to save as dmesg)");
        Assert.That(records[^1].Type, Is.EqualTo(NativeRecord.Trailer));
        Assert.That(records[^1].End, Is.EqualTo(file.Length));
        Assert.That(records[^2].Type, Is.EqualTo(NativeRecord.Index));
        Assert.That(records[^3].Type, Is.EqualTo(NativeRecord.IndexBlock));

        var chunks = records.Where(r => r.Type == NativeRecord.Chunk).ToList();
        (ulong First, ulong End)[] ram = [(0, 0xa0), (0x100, 0x1c8), (0x400, 0x428)];
        Assert.That(chunks[0].Arg0, Is.Zero);
        for (int i = 0; i < chunks.Count; i++)
        {
            NativeRecord c = chunks[i];
            Assert.That(ram.Count(r => c.Arg0 >= r.First && c.Arg1 <= r.End), Is.EqualTo(1), $"chunk {i} [0x{c.Arg0:x}, 0x{c.Arg1:x}) lies in one RAM run");
            if (i > 0)
                Assert.That(c.Arg0, Is.EqualTo(chunks[i - 1].Arg1).Or.EqualTo(0x100).Or.EqualTo(0x400), "chunks cover RAM without gaps");
            byte[] payload = c.Payload(file);
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)c.Offset + 32)), Is.EqualTo(Crc32C.Compute(payload)), $"chunk {i} payload_crc");
            uint runs = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(4));
            uint present = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(8));
            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(12));
            Assert.That(present, Is.InRange(0, 4));
            Assert.That(payload.Length, Is.EqualTo(16 + 8 * runs + stored));
            long covered = Enumerable.Range(0, (int)runs).Sum(r => (long)BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(16 + 8 * r)));
            Assert.That(covered, Is.EqualTo((long)(c.Arg1 - c.Arg0)));
        }
        Assert.That(chunks[^1].Arg1, Is.EqualTo(0x428));
        // The random pages 0x20-0x23 fill one chunk that LZ4 cannot shrink: stored raw, codec 0.
        NativeRecord raw = chunks.Single(c => c.Arg0 == 0x20);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(raw.Payload(file)), Is.Zero);
    }

    [Test]
    public void Streaming_writer_records_reasons_errors_metadata_and_timings()
    {
        var ranges = new[] { PhysicalRange.FromLength(0, 64 * 4096), PhysicalRange.FromLength(0x100000, 64 * 4096) };
        byte[] notes = NotesBlob();
        var uts = new UtsName("Linux", "crashed", "6.12.0", "#1 SMP", "x86_64", "(none)");
        var identity = new CaptureIdentity
        {
            Hostname = "capture-host",
            Tool = "kds-capture 0.1.0",
            CaptureKernelRelease = "6.12.0-crash",
            CrashedKernel = uts,
            CaptureStarted = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123),
        };
        var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, ranges, notes, new NativeDumpWriterOptions { DumpLevel = 31, Identity = identity, ChunkPages = 8, Parallelism = 2 }))
        {
            writer.WriteDmesg("[    0.000000] Linux version 6.12.0\n"u8);
            writer.AppendCaptureLog("kds-capture: saving dmesg\n");
            for (ulong pfn = 0; pfn < 16; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn));
            ExclusionReason[] reasons = Enum.GetValues<ExclusionReason>();
            for (int i = 0; i < reasons.Length; i++)
                writer.AddExcluded(new PageFrameNumber(16 + (ulong)i * 2), 2, reasons[i]);
            writer.AddReadError(new PageFrameNumber(30), 3);
            writer.AddPage(new PageFrameNumber(33), new byte[4096]);
            // 34-63 never given; the second range is described by one span that also covers the hole.
            writer.AddExcluded(new PageFrameNumber(0x80), 0x200, ExclusionReason.Free);
            writer.AppendCaptureLog("kds-capture: done\n");
            writer.Complete([new CaptureTiming("dmesg", TimeSpan.Zero, TimeSpan.FromMilliseconds(12)), new CaptureTiming("pages", TimeSpan.FromMilliseconds(12), TimeSpan.FromSeconds(3))]);
        }
        byte[] file = output.ToArray();
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.Identity, Is.EqualTo(identity));
        Assert.That(reader.Properties.DumpLevel, Is.EqualTo(31));
        Assert.That(Encoding.ASCII.GetString(reader.Dmesg!.Value.Span), Is.EqualTo("[    0.000000] Linux version 6.12.0\n"));
        Assert.That(reader.CaptureLog, Is.EqualTo("kds-capture: saving dmesg\nkds-capture: done\n"));
        Assert.That(reader.Timings, Is.EqualTo(new[] { new CaptureTiming("dmesg", TimeSpan.Zero, TimeSpan.FromMilliseconds(12)), new CaptureTiming("pages", TimeSpan.FromMilliseconds(12), TimeSpan.FromSeconds(3)) }));
        Assert.That(reader.PageCounts, Is.EqualTo(new PageCounts
        {
            Stored = 16, Zero = 1, OtherExcluded = 2, Cache = 2, PrivateCache = 2, User = 2, Free = 2 + 64, HwPoison = 2, Offline = 2, ReadErrors = 3, NotCaptured = 30,
        }));
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Properties.IncompleteReason, Is.EqualTo("30 RAM pages were never given to the writer (the first at pfn 0x22)"));
        var memory = (NativePhysicalMemory)reader.Memory;
        for (int i = 0; i < Enum.GetValues<ExclusionReason>().Length; i++)
            Assert.That(memory.ExclusionReasonOf(new PageFrameNumber(17 + (ulong)i * 2)), Is.EqualTo((ExclusionReason)i));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(31)), Is.EqualTo(PageState.Unreadable));
        Assert.That(Read(reader.Memory, 33, out PageState zero), Is.EqualTo(new byte[4096]));
        Assert.That(zero, Is.EqualTo(PageState.Present));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(50)), Is.EqualTo(PageState.Lost));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x60)), Is.EqualTo(PageState.NotInDump));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x13f)), Is.EqualTo(PageState.Excluded));
        Assert.That(NativeRecord.Walk(file).Single(r => r.Type == NativeRecord.Notes).Payload(file), Is.EqualTo(notes), "notes are kept verbatim");
    }

    [Test]
    public void Misuse_is_refused_without_harming_the_dump()
    {
        var output = new MemoryStream();
        using var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 32 * 4096), PhysicalRange.FromLength(0x100000, 4096)], NotesBlob(),
            new NativeDumpWriterOptions { Parallelism = 1 });
        writer.AddPage(new PageFrameNumber(5), KdumpCompressedBuilder.Pattern(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddPage(new PageFrameNumber(4), KdumpCompressedBuilder.Pattern(4)), "backwards");
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddPage(new PageFrameNumber(40), KdumpCompressedBuilder.Pattern(40)), "in a hole");
        Assert.Throws<ArgumentException>(() => writer.AddPage(new PageFrameNumber(6), new byte[100]), "short page");
        Assert.Throws<InvalidOperationException>(() => { writer.WriteDmesg("a"u8); writer.WriteDmesg("b"u8); }, "dmesg twice");
        writer.AddPage(new PageFrameNumber(6), KdumpCompressedBuilder.Pattern(6));
        writer.AddPage(new PageFrameNumber(0x100), KdumpCompressedBuilder.Pattern(0x100));
        writer.Complete();
        Assert.Throws<InvalidOperationException>(() => writer.AddPage(new PageFrameNumber(0x100), KdumpCompressedBuilder.Pattern(0x100)), "after Complete");

        using NativeDumpReader reader = Open(output.ToArray());
        Assert.That(Read(reader.Memory, 6, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(6)));
        Assert.That(Read(reader.Memory, 0x100, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(0x100)));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(4)), Is.EqualTo(PageState.Lost));
    }

    [Test]
    public void A_failing_stream_leaves_a_readable_prefix_and_a_writer_that_refuses_more()
    {
        var output = new FailingStream(failAfter: 20_000);
        var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 64 * 4096)], NotesBlob(), new NativeDumpWriterOptions { ChunkPages = 1, Parallelism = 2 });
        Assert.Throws<IOException>(() =>
        {
            for (ulong pfn = 0; pfn < 64; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn));
            writer.Complete();
        });
        Assert.Throws<InvalidOperationException>(() => writer.Complete());
        writer.Dispose();

        using NativeDumpReader reader = Open(output.Written);
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        int present = RamPfns(reader).Count(pfn => reader.Memory.GetPageState(new PageFrameNumber(pfn)) == PageState.Present);
        Assert.That(present, Is.InRange(1, 63));
        for (ulong pfn = 0; pfn < (ulong)present; pfn++)
            Assert.That(Read(reader.Memory, pfn, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)));
    }

    [Test]
    public void Chunks_span_at_most_2_to_the_20_pages_and_index_blocks_hold_4096_chunks()
    {
        // 3 Mi excluded pages (12 GiB) and 9000 one-page chunks: 3+ span-capped chunks, 3 IndexBlocks.
        const ulong Big = 3UL << 20;
        var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 9000 * 4096), PhysicalRange.FromLength(1UL << 32, Big * 4096)], NotesBlob(),
            new NativeDumpWriterOptions { ChunkPages = 1 }))
        {
            for (ulong pfn = 0; pfn < 9000; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn % 7));
            writer.AddExcluded(new PageFrameNumber(1UL << 20), Big, ExclusionReason.Free);
            writer.Complete();
        }
        byte[] file = output.ToArray();
        List<NativeRecord> records = NativeRecord.Walk(file);
        Assert.That(records.Count(r => r.Type == NativeRecord.IndexBlock), Is.EqualTo(3));
        Assert.That(records.Where(r => r.Type == NativeRecord.Chunk && r.Arg0 >= 1 << 20).Select(r => r.Arg1 - r.Arg0), Is.EqualTo(new ulong[] { 1 << 20, 1 << 20, 1 << 20 }));

        using NativeDumpReader reader = Open(file);
        Assert.That(reader.Properties.IsIncomplete, Is.False);
        Assert.That(reader.ChunkCount, Is.EqualTo(9003));
        foreach (ulong pfn in new ulong[] { 0, 4095, 4096, 8191, 8192, 8999 })
            Assert.That(Read(reader.Memory, pfn, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn % 7)), $"pfn {pfn}");
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber((1UL << 20) + Big - 1)), Is.EqualTo(PageState.Excluded));
    }

    [Test]
    public void Codecs_the_format_lacks_and_unsorted_ranges_are_refused()
    {
        var output = new MemoryStream();
        Assert.Throws<ArgumentException>(() => new NativeDumpWriter(output, [], NotesBlob(), new NativeDumpWriterOptions { Compression = PageCompression.Lzo }));
        Assert.Throws<ArgumentException>(() => new NativeDumpWriter(output, [PhysicalRange.FromLength(8192, 4096), PhysicalRange.FromLength(0, 4096)], NotesBlob()));
    }

    internal static byte[] NotesBlob()
    {
        using var blob = new MemoryStream();
        foreach (ElfNote note in new[] { FakeDumpReader.PrStatusNote(7), FakeDumpReader.VmcoreinfoNote("OSRELEASE=6.12.0\nPAGESIZE=4096\n") })
            ElfNote.Write(blob, note.Name, note.Type, note.Descriptor.Span);
        return blob.ToArray();
    }

    /// <summary>A stream that accepts <c>failAfter</c> bytes, then fails every write like a full disk.</summary>
    private sealed class FailingStream(int failAfter) : Stream
    {
        private readonly MemoryStream _written = new();

        public byte[] Written => _written.ToArray();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            int room = failAfter - (int)_written.Length;
            _written.Write(buffer[..Math.Min(room, buffer.Length)]);
            if (buffer.Length > room)
                throw new IOException("No space left on device");
        }
    }
}
