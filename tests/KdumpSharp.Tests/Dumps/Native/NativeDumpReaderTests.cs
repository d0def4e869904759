using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Dumps.Kdump;
using static KdumpSharp.Tests.Dumps.Native.NativeTestSupport;

namespace KdumpSharp.Tests.Dumps.Native;

public sealed class NativeDumpReaderTests
{
    /// <summary>The complete source in 4-page chunks, so there are many chunk boundaries to cut at; its records, walked independently.</summary>
    private static (FakeDumpReader Source, byte[] File, List<NativeRecord> Records) Written()
    {
        FakeDumpReader source = CompleteSource();
        byte[] file = Write(source, new NativeDumpWriterOptions { ChunkPages = 4, Parallelism = 2 });
        return (source, file, NativeRecord.Walk(file));
    }

    /// <summary>Every offset worth cutting at: inside the header, each record's first bytes, every chunk boundary ±1, inside the trailer.</summary>
    private static IEnumerable<int> CutPoints(byte[] file, List<NativeRecord> records)
    {
        var cuts = new SortedSet<int> { 4, 5, 7, 8, 9, 32, 63, 64, 65 };
        foreach (NativeRecord r in records)
            foreach (long at in new[] { r.Offset - 1, r.Offset, r.Offset + 1, r.Offset + 39, r.PayloadOffset, r.PayloadOffset + 1, r.End - 1, r.End, r.End + 1 })
                if (at >= 4 && at <= file.Length)
                    cuts.Add((int)at);
        NativeRecord trailer = records[^1];
        for (long at = trailer.Offset; at <= file.Length; at += 8)
            cuts.Add((int)at);
        return cuts;
    }

    [Test]
    public void A_file_cut_anywhere_opens_and_keeps_every_chunk_written_whole()
    {
        (FakeDumpReader source, byte[] file, List<NativeRecord> records) = Written();
        NativeRecord ranges = records.Single(r => r.Type == NativeRecord.Ranges);
        NativeRecord notes = records.Single(r => r.Type == NativeRecord.Notes);
        var chunks = records.Where(r => r.Type == NativeRecord.Chunk).ToList();
        ulong[] pfns = [.. RamPfns(source)];
        int cuts = 0;
        foreach (int cut in CutPoints(file, records))
        {
            cuts++;
            using NativeDumpReader reader = Open(file[..cut]);
            string at = $"cut at 0x{cut:x} of 0x{file.Length:x}";
            Assert.That(reader.Properties.IsIncomplete, Is.EqualTo(cut < file.Length), at);
            if (cut < file.Length)
                Assert.That(reader.Properties.IncompleteReason, Is.Not.Empty, at);
            Assert.That(reader.Notes, Has.Count.EqualTo(cut >= notes.End ? 3 : 0), at);
            if (cut < ranges.End)
            {
                // Before the Ranges section is whole nothing says where RAM is, and no page was written.
                Assert.That(reader.Memory.Ranges, Is.Empty, at);
                Assert.That(pfns.Select(p => reader.Memory.GetPageState(new PageFrameNumber(p))), Is.All.EqualTo(PageState.NotInDump), at);
                continue;
            }
            Assert.That(reader.Memory.Ranges, Is.EqualTo(source.Memory.Ranges), at);
            foreach (ulong pfn in pfns)
            {
                NativeRecord chunk = chunks.Single(c => pfn >= c.Arg0 && pfn < c.Arg1);
                byte[] actual = Read(reader.Memory, pfn, out PageState state);
                byte[] expected = Read(source.Memory, pfn, out PageState sourceState);
                if (chunk.End > cut)
                {
                    Assert.That(state, Is.EqualTo(PageState.Lost), $"{at}: pfn 0x{pfn:x} in a chunk cut short");
                    continue;
                }
                Assert.That(state, Is.EqualTo(sourceState), $"{at}: pfn 0x{pfn:x}");
                if (state == PageState.Present)
                    AssertSamePage(actual, expected, $"{at}: pfn 0x{pfn:x}");
            }
        }
        Assert.That(cuts, Is.GreaterThan(3 * chunks.Count));
        TestContext.Out.WriteLine($"{cuts} cuts over {chunks.Count} chunks, {file.Length} bytes");
    }

    [Test]
    public void A_file_cut_inside_its_header_is_an_empty_incomplete_dump()
    {
        (_, byte[] file, _) = Written();
        foreach (int cut in new[] { 4, 8, 20, 63 })
        {
            using IDumpReader reader = DumpFile.Open(new MemorySource("cut.kds", file[..cut]));
            Assert.That(reader.Properties.Format, Is.EqualTo(DumpFormat.Native));
            Assert.That(reader.Properties.IsIncomplete, Is.True);
            Assert.That(reader.Properties.IncompleteReason, Does.Contain("inside the 64-byte header"));
            Assert.That(reader.Memory.Ranges, Is.Empty);
            Assert.That(reader.Notes, Is.Empty);
        }
        Assert.Throws<UnrecognizedDumpException>(() => DumpFile.Open(new MemorySource("cut.kds", file[..3])));
    }

    [Test]
    public void Dmesg_saved_first_survives_a_capture_cut_before_any_page()
    {
        var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 64 * 4096)], NativeDumpWriterTests.NotesBlob()))
        {
            writer.WriteDmesg("[    1.000000] Kernel panic - not syncing: test\n"u8);
            for (ulong pfn = 0; pfn < 64; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn));
        }
        byte[] file = output.ToArray();
        NativeRecord dmesg = NativeRecord.Walk(file).Single(r => r.Type == NativeRecord.Dmesg);
        using NativeDumpReader reader = Open(file[..(int)dmesg.End]);

        Assert.That(System.Text.Encoding.ASCII.GetString(reader.Dmesg!.Value.Span), Does.Contain("Kernel panic"));
        Assert.That(reader.Notes, Has.Count.EqualTo(2));
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0)), Is.EqualTo(PageState.Lost));
        Assert.That(reader.PageCounts, Is.Null);
    }

    [Test]
    public void A_writer_disposed_without_completing_leaves_an_incomplete_dump_of_what_it_had()
    {
        var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 64 * 4096)], NativeDumpWriterTests.NotesBlob(), new NativeDumpWriterOptions { ChunkPages = 4, Parallelism = 1 }))
            for (ulong pfn = 0; pfn < 30; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn));
        using NativeDumpReader reader = Open(output.ToArray());

        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Properties.IncompleteReason, Does.StartWith("the file has no trailer: the writer did not finish; 7 chunks were recovered by scanning"));
        for (ulong pfn = 0; pfn < 28; pfn++)
            Assert.That(Read(reader.Memory, pfn, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(28)), Is.EqualTo(PageState.Lost), "the half-filled chunk was never written");
    }

    private static long DamageOffset(string where, NativeRecord chunk) => where switch
    {
        "data" => chunk.End - 5,
        "runs" => chunk.PayloadOffset + 17,
        "record header" => chunk.Offset + 20,
        _ => chunk.Offset,
    };

    private static NativeRecord Chunk(List<NativeRecord> records, int index) => records.Where(r => r.Type == NativeRecord.Chunk).ElementAt(index);

    [TestCase("data")]
    [TestCase("runs")]
    [TestCase("record header")]
    [TestCase("magic")]
    public void A_damaged_chunk_makes_its_pages_unreadable_and_no_others(string where)
    {
        (FakeDumpReader source, byte[] file, List<NativeRecord> records) = Written();
        NativeRecord chunk = Chunk(records, 10);
        file[DamageOffset(where, chunk)] ^= 0x40;
        foreach (bool truncated in new[] { false, true })
        {
            // Through the index, and (cut before the trailer) by scanning, which must resynchronise.
            using NativeDumpReader reader = Open(truncated ? file[..(int)records[^1].Offset] : file);
            foreach (ulong pfn in RamPfns(source))
            {
                byte[] actual = Read(reader.Memory, pfn, out PageState state);
                byte[] expected = Read(source.Memory, pfn, out PageState sourceState);
                if (pfn >= chunk.Arg0 && pfn < chunk.Arg1)
                {
                    Assert.That(state, Is.EqualTo(PageState.Unreadable), $"{where}: pfn 0x{pfn:x}");
                    continue;
                }
                Assert.That(state, Is.EqualTo(sourceState), $"{where}, truncated {truncated}: pfn 0x{pfn:x}");
                if (state == PageState.Present)
                    AssertSamePage(actual, expected, $"{where}: pfn 0x{pfn:x}");
            }
        }
    }

    [Test]
    public void Any_single_flipped_byte_gives_right_pages_or_unreadable_ones_never_wrong_ones()
    {
        (FakeDumpReader source, byte[] file, _) = Written();
        ulong[] pfns = [.. RamPfns(source)];
        var expected = pfns.ToDictionary(p => p, p => (Bytes: Read(source.Memory, p, out PageState s), State: s));
        int rejected = 0;
        for (int at = 0; at < file.Length; at += at < 2048 || at > file.Length - 2048 ? 3 : 97)
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[at] ^= (byte)(1 << (at % 8));
            NativeDumpReader reader;
            try
            {
                reader = Open(damaged);
            }
            catch (DumpFormatException e)
            {
                Assert.That(e.Message, Does.Not.Contain("\n"));
                rejected++;
                continue;
            }
            using (reader)
            {
                _ = reader.Dmesg;
                _ = reader.CaptureLog;
                foreach (ulong pfn in pfns)
                {
                    byte[] actual = Read(reader.Memory, pfn, out PageState state);
                    if (state is PageState.Unreadable or PageState.Lost)
                        continue;
                    Assert.That(state, Is.EqualTo(expected[pfn].State), $"flip at 0x{at:x}: pfn 0x{pfn:x}");
                    if (state == PageState.Present)
                        AssertSamePage(actual, expected[pfn].Bytes, $"flip at 0x{at:x}: pfn 0x{pfn:x}");
                }
            }
        }
        Assert.That(rejected, Is.GreaterThan(0), "flips in the header are rejected");
    }

    [Test]
    public void A_damaged_section_is_reported_and_the_pages_still_read()
    {
        (FakeDumpReader source, byte[] file, List<NativeRecord> records) = Written();
        file[records.Single(r => r.Type == NativeRecord.Notes).PayloadOffset + 30] ^= 1;
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.Notes, Is.Empty);
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Properties.IncompleteReason, Does.Match("the Notes section at 0x[0-9a-f]+ is damaged"));
        Assert.That(Read(reader.Memory, 0x100, out _), Is.EqualTo(Read(source.Memory, 0x100, out _)));
    }

    [Test]
    public void A_damaged_index_falls_back_to_scanning_and_loses_nothing()
    {
        (FakeDumpReader source, byte[] file, List<NativeRecord> records) = Written();
        file[records.Single(r => r.Type == NativeRecord.Index).PayloadOffset + 3] ^= 1;
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.Properties.IsIncomplete, Is.False, reader.Properties.IncompleteReason);
        foreach (ulong pfn in RamPfns(source))
            AssertSamePage(Read(reader.Memory, pfn, out _), Read(source.Memory, pfn, out _), $"pfn 0x{pfn:x}");
    }

    [Test]
    public void A_complete_file_opens_from_its_trailer_without_reading_pages()
    {
        (_, byte[] file, List<NativeRecord> records) = Written();
        var recording = new CountingSource(new MemorySource("count.kds", file));
        using NativeDumpReader reader = NativeDumpReader.Open(recording, DumpLimits.Default);
        long chunkBytes = records.Where(r => r.Type == NativeRecord.Chunk).Sum(r => r.PayloadLength);

        Assert.That(reader.Properties.IsIncomplete, Is.False);
        Assert.That(recording.BytesRead, Is.LessThan(file.Length - chunkBytes), "no chunk payload is read to open the file");
        long before = recording.BytesRead;
        Read(reader.Memory, 0x1c7, out _);
        Assert.That(recording.BytesRead - before, Is.LessThan(8192), "a page costs its chunk and an index block, no scan");
    }

    [Test]
    public void Index_blocks_found_while_scanning_replace_the_chunks_they_list()
    {
        // Disposed without Complete: no trailer, two IndexBlocks, and the chunks still in flight are lost.
        var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 10_000 * 4096)], NativeDumpWriterTests.NotesBlob(), new NativeDumpWriterOptions { ChunkPages = 1, Parallelism = 2 }))
            for (ulong pfn = 0; pfn < 10_000; pfn++)
                writer.AddPage(new PageFrameNumber(pfn), KdumpCompressedBuilder.Pattern(pfn % 5));
        byte[] file = output.ToArray();
        Assert.That(NativeRecord.Walk(file).Count(r => r.Type == NativeRecord.IndexBlock), Is.EqualTo(2));
        using NativeDumpReader reader = Open(file);

        Assert.That(reader.ChunkCount, Is.InRange(9990, 10_000));
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        for (ulong pfn = 0; pfn < 10_000; pfn++)
        {
            byte[] page = Read(reader.Memory, pfn, out PageState state);
            Assert.That(state, Is.EqualTo(pfn < (ulong)reader.ChunkCount ? PageState.Present : PageState.Lost), $"pfn {pfn}");
            if (state == PageState.Present)
                AssertSamePage(page, KdumpCompressedBuilder.Pattern(pfn % 5), $"pfn {pfn}");
        }
    }

    [Test]
    public void Versions_and_flags_it_does_not_know_are_refused_with_one_line()
    {
        (_, byte[] file, _) = Written();
        Assert.That(Refused(file, 8, 2), Does.Contain("KDS format version 2"));
        Assert.That(Refused(file, 16, 2), Does.Contain("incompatible feature flags 0x2"));
        Assert.That(Refused(file, 24, 8192), Does.Contain("page_size is 8192"));
        byte[] compat = (byte[])file.Clone();
        SetHeaderField(compat, 20, 0x80);
        using (NativeDumpReader reader = Open(compat))
            Assert.That(reader.Properties.IsIncomplete, Is.False, "unknown compatible flags are ignored");
        byte[] crc = (byte[])file.Clone();
        crc[40] ^= 1;
        Assert.That(Assert.Throws<DumpFormatException>(() => Open(crc))!.Message, Does.Contain("header fails its checksum"));
        byte[] text = (byte[])file.Clone();
        text[4] = (byte)'\n';
        Assert.That(Assert.Throws<DumpFormatException>(() => Open(text))!.Message, Does.Contain("line endings"));
    }

    [Test]
    public void Unknown_records_are_skipped_unless_required()
    {
        (FakeDumpReader source, byte[] file, List<NativeRecord> records) = Written();
        NativeRecord capture = records.Single(r => r.Type == NativeRecord.Capture);
        byte[] skipped = Insert(file, (int)((capture.End + 7) / 8 * 8), type: 0x7777, flags: 0);
        using (NativeDumpReader reader = Open(skipped))
        {
            Assert.That(reader.Properties.IsIncomplete, Is.False, reader.Properties.IncompleteReason);
            Assert.That(Read(reader.Memory, 0x427, out _), Is.EqualTo(Read(source.Memory, 0x427, out _)));
        }
        byte[] required = Insert(file, (int)((capture.End + 7) / 8 * 8), type: 0x7777, flags: 1);
        Assert.That(Assert.Throws<DumpFormatException>(() => Open(required))!.Message, Does.Contain("record type 0x7777 is required"));
    }

    [Test]
    public void Reads_from_many_threads_see_the_same_pages()
    {
        (FakeDumpReader source, byte[] file, _) = Written();
        using NativeDumpReader reader = Open(file);
        ulong[] pfns = [.. RamPfns(source)];
        var expected = pfns.Select(p => Read(source.Memory, p, out _)).ToArray();
        Parallel.For(0, 8, t =>
        {
            var random = new Random(t);
            for (int i = 0; i < 2000; i++)
            {
                int k = random.Next(pfns.Length);
                byte[] actual = Read(reader.Memory, pfns[k], out _);
                if (!actual.AsSpan().SequenceEqual(expected[k]))
                    throw new AssertionException($"thread {t}: pfn 0x{pfns[k]:x} differs");
            }
        });
    }

    [Test]
    public void The_sniffer_opens_native_dumps()
    {
        (_, byte[] file, _) = Written();
        using IDumpReader reader = DumpFile.Open(new MemorySource("sniffed", file));
        Assert.That(reader, Is.InstanceOf<NativeDumpReader>());
        Assert.That(reader, Is.InstanceOf<ICaptureMetadata>());
    }

    private static string Refused(byte[] file, int field, uint value)
    {
        byte[] changed = (byte[])file.Clone();
        SetHeaderField(changed, field, value);
        return Assert.Throws<DumpFormatException>(() => Open(changed))!.Message;
    }

    /// <summary>Sets a u32 header field and restamps the header CRC (docs/format.md §2).</summary>
    private static void SetHeaderField(byte[] file, int field, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(field), value);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(60), Crc32C.Compute(file.AsSpan(0, 60)));
    }

    /// <summary>Inserts a 16-byte-payload record of <paramref name="type"/> at <paramref name="at"/>, its header CRC seeded with the dump id (docs/format.md §3).</summary>
    private static byte[] Insert(byte[] file, int at, ushort type, ushort flags)
    {
        byte[] record = new byte[40 + 16];
        "KDSR"u8.CopyTo(record);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), 16);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(32), Crc32C.Compute(record.AsSpan(40)));
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(36), Crc32C.Append(Crc32C.Compute(file.AsSpan(32, 16)), record.AsSpan(0, 36)));
        return [.. file.AsSpan(0, at), .. record, .. file.AsSpan(at)];
    }

    /// <summary>Counts the bytes read through it.</summary>
    private sealed class CountingSource(DumpSource inner) : DumpSource
    {
        public long BytesRead { get; private set; }
        public override string Name => inner.Name;
        public override long Length => inner.Length;

        public override int ReadAt(long offset, Span<byte> destination)
        {
            int n = inner.ReadAt(offset, destination);
            BytesRead += n;
            return n;
        }

        public override void Dispose() => inner.Dispose();
    }
}
