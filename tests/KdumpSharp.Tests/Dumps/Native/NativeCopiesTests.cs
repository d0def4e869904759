using System.Buffers.Binary;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using static KdumpSharp.Tests.Dumps.Native.NativeTestSupport;

namespace KdumpSharp.Tests.Dumps.Native;

/// <summary>Pages stored once and referenced again (Copy runs, docs/format.md §4.1), and the index that finds them.</summary>
public sealed class NativeCopiesTests
{
    private static IEnumerable<TestCaseData> Shapes()
    {
        foreach (PageCompression kind in new[] { PageCompression.Lz4, PageCompression.Zstd, PageCompression.None })
            foreach (int chunkPages in new[] { 1, 16 })
                foreach (int threads in new[] { 1, 3 })
                    yield return new TestCaseData(kind, chunkPages, threads).SetName($"Copies round trip {PageCodec.DisplayName(kind)}, {chunkPages}-page chunks, {threads} threads");
    }

    [TestCaseSource(nameof(Shapes))]
    public void Every_repeated_page_is_stored_once_and_reads_back_whole(PageCompression kind, int chunkPages, int threads)
    {
        using FakeDumpReader source = RepeatingSource(out long stored, out long copies);
        byte[] file = Write(source, new NativeDumpWriterOptions { Compression = kind, ChunkPages = chunkPages, Parallelism = threads, AllowCopies = true }, out NativeWriteResult result);
        byte[] plain = Write(source, new NativeDumpWriterOptions { Compression = kind, ChunkPages = chunkPages, Parallelism = threads });
        using NativeDumpReader reader = Open(file);

        AssertReadsLike(reader.Memory, source.Memory, RamPfns(source));
        Assert.That((result.Pages.Stored, result.Pages.Copies), Is.EqualTo((stored, copies)));
        Assert.That(result.Pages.Total, Is.EqualTo((long)RepeatingRamPages));
        Assert.That(reader.PageCounts, Is.EqualTo(result.Pages));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(16)), Is.EqualTo(1u), "incompat_flags: Copies");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(plain.AsSpan(16)), Is.Zero, "a writer not allowed copies sets no flag");
        Assert.That(file, Has.Length.LessThan(plain.Length), "a copy costs 8 bytes, not a compressed page");
    }

    [Test]
    public void A_file_with_copies_cut_anywhere_keeps_every_whole_chunk_readable()
    {
        using FakeDumpReader source = RepeatingSource(out _, out _);
        byte[] file = Write(source, new NativeDumpWriterOptions { ChunkPages = 4, Parallelism = 1, AllowCopies = true });
        List<NativeRecord> chunks = NativeRecord.Walk(file).Where(r => r.Type == NativeRecord.Chunk).ToList();
        Assert.That(chunks, Has.Count.GreaterThan(10));
        foreach (NativeRecord cut in chunks)
        {
            using NativeDumpReader reader = Open(file[..(int)cut.End]);
            IEnumerable<ulong> written = chunks.TakeWhile(c => c.End <= cut.End).SelectMany(c => Enumerable.Range(0, (int)(c.Arg1 - c.Arg0)).Select(i => c.Arg0 + (ulong)i));
            AssertReadsLike(reader.Memory, source.Memory, written, $"cut after the chunk at pfn 0x{cut.Arg0:x}: ");
            Assert.That(reader.Memory.GetPageState(new PageFrameNumber(cut.Arg1)), Is.EqualTo(cut.Arg1 < 0x100 + RepeatingRamPages ? PageState.Lost : PageState.NotInDump));
        }
    }

    [Test]
    public void A_copy_of_a_page_that_was_not_stored_reads_as_unreadable()
    {
        using var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 8 * 4096)], ReadOnlyMemory<byte>.Empty, new NativeDumpWriterOptions { AllowCopies = true, Parallelism = 1 }))
        {
            writer.AddExcluded(new PageFrameNumber(0), 1, ExclusionReason.Free);
            writer.AddPage(new PageFrameNumber(1), KdumpCompressedBuilder.Pattern(1));
            writer.AddCopy(new PageFrameNumber(2), new PageFrameNumber(0));
            writer.AddCopy(new PageFrameNumber(3), new PageFrameNumber(1));
            writer.Complete();
        }
        using NativeDumpReader reader = Open(output.ToArray());

        Read(reader.Memory, 2, out PageState excludedSource);
        Assert.That(excludedSource, Is.EqualTo(PageState.Unreadable), "a copy of an excluded page");
        AssertSamePage(Read(reader.Memory, 3, out PageState fine), KdumpCompressedBuilder.Pattern(1), "a copy of a stored page");
        Assert.That(fine, Is.EqualTo(PageState.Present));
    }

    [Test]
    public void The_writer_refuses_copies_it_was_not_allowed_or_that_point_forward()
    {
        using var output = new MemoryStream();
        using (var plain = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 8 * 4096)], ReadOnlyMemory<byte>.Empty, new NativeDumpWriterOptions { Parallelism = 1 }))
        {
            plain.AddPage(new PageFrameNumber(0), KdumpCompressedBuilder.Pattern(0));
            Assert.That(() => plain.AddCopy(new PageFrameNumber(1), new PageFrameNumber(0)), Throws.InvalidOperationException.With.Message.Contains("AllowCopies"));
        }
        using var allowed = new NativeDumpWriter(new MemoryStream(), [PhysicalRange.FromLength(0, 8 * 4096)], ReadOnlyMemory<byte>.Empty, new NativeDumpWriterOptions { AllowCopies = true, Parallelism = 1 });
        allowed.AddPage(new PageFrameNumber(0), KdumpCompressedBuilder.Pattern(0));
        Assert.That(() => allowed.AddCopy(new PageFrameNumber(1), new PageFrameNumber(1)), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("earlier page"));
        Assert.That(() => allowed.AddCopy(new PageFrameNumber(9), new PageFrameNumber(0)), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("no RAM range"));
    }

    [Test]
    public void A_copy_table_pointing_forward_makes_the_chunk_unreadable_not_a_loop()
    {
        using var output = new MemoryStream();
        using (var writer = new NativeDumpWriter(output, [PhysicalRange.FromLength(0, 4 * 4096)], ReadOnlyMemory<byte>.Empty, new NativeDumpWriterOptions { AllowCopies = true, Parallelism = 1, Compression = PageCompression.None }))
        {
            writer.AddPage(new PageFrameNumber(0), KdumpCompressedBuilder.Pattern(0));
            writer.AddCopy(new PageFrameNumber(1), new PageFrameNumber(0));
            writer.Complete();
        }
        byte[] file = output.ToArray();
        NativeRecord chunk = NativeRecord.Walk(file).Single(r => r.Type == NativeRecord.Chunk);
        // Payload: 16-byte chunk header, runs (Present 1, Copy 1, NotCaptured 2), then the copy table.
        int table = (int)chunk.PayloadOffset + 16 + 3 * 8;
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(table)), Is.Zero, "the copy table names pfn 0");
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(table), 1);
        RewriteCrcs(file, chunk);

        using NativeDumpReader reader = Open(file);
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(1)), Is.EqualTo(PageState.Unreadable));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0)), Is.EqualTo(PageState.Unreadable), "the whole chunk is refused");
    }

    [Test]
    public void Equal_fingerprints_of_different_pages_are_not_taken_for_copies()
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, 4 * 4096));
        memory.Write(0, KdumpCompressedBuilder.Pattern(0));
        memory.Write(4096, KdumpCompressedBuilder.Pattern(1));
        using var index = new DuplicatePageIndex(4);
        index.Remember(new PageFrameNumber(0), 0x1234);

        Assert.That(index.TryFindCopy(0x1234, KdumpCompressedBuilder.Pattern(1), memory, out _), Is.False);
        Assert.That(index.FalseMatches, Is.EqualTo(1));
        Assert.That(index.TryFindCopy(0x1234, KdumpCompressedBuilder.Pattern(0), memory, out PageFrameNumber source), Is.True);
        Assert.That((source, index.Copies), Is.EqualTo((new PageFrameNumber(0), 1L)));
    }

    [Test]
    public void The_index_forgets_the_oldest_of_a_full_set_and_stays_bounded()
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, 8 * 4096));
        using var index = new DuplicatePageIndex(8);
        for (ulong pfn = 0; pfn < 5; pfn++)
        {
            memory.Write(pfn * 4096, KdumpCompressedBuilder.Pattern(pfn));
            index.Remember(new PageFrameNumber(pfn), 0x77 | (pfn << 50));
        }

        Assert.That(index.TryFindCopy(0x77, KdumpCompressedBuilder.Pattern(0), memory, out _), Is.False, "pfn 0 was the oldest of five in a 4-way set");
        for (ulong pfn = 1; pfn < 5; pfn++)
            Assert.That(index.TryFindCopy(0x77 | (pfn << 50), KdumpCompressedBuilder.Pattern(pfn), memory, out _), Is.True, $"pfn {pfn}");
        Assert.That(index.TableBytes, Is.EqualTo(32 * 1024), "4096 entries at least");
        Assert.That(DuplicatePageIndex.TableBytesFor(8), Is.EqualTo(32 * 1024));
        Assert.That(DuplicatePageIndex.TableBytesFor(1UL << 40), Is.EqualTo(16 * 1024 * 1024), "2^21 entries at most");
        Assert.That(DuplicatePageIndex.TableBytesFor(1 << 20), Is.EqualTo(8 * 1024 * 1024), "one entry per RAM page");
        using var large = new DuplicatePageIndex(1UL << 40);
        Assert.That(large.TableBytes, Is.EqualTo(1024 * 1024), "a table starts at 1 MiB and grows with the pages remembered");
    }

    /// <summary>
    /// Page i's fingerprint has i as its tag and (i / 4) | (i % 4) &lt;&lt; 15 as its set bits: pages 4k to 4k + 3 fill
    /// set k of the initial table (2^15 sets), and its two doublings split them by bits 15 and 16, which each
    /// entry must have kept. Every page must still be found, as itself, and the table must stop at the RAM's bound.
    /// </summary>
    [TestCase(1UL << 19, 3)]
    [TestCase(1UL << 18, 2)]
    [TestCase(1UL << 17, 1)]
    public void The_table_doubles_as_pages_are_remembered_and_still_finds_every_one(ulong ramPages, int sizesSeen)
    {
        const ulong pages = (1 << 17) + 1;
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, pages * 4096));
        var zero = new byte[4096];
        using var index = new DuplicatePageIndex(ramPages);
        static ulong Fingerprint(ulong i) => i << 44 | i >> 2 | (i & 3) << 15;

        var sizes = new List<long> { index.TableBytes };
        for (ulong i = 0; i < pages; i++)
        {
            index.Remember(new PageFrameNumber(i), Fingerprint(i));
            if (sizes[^1] != index.TableBytes)
                sizes.Add(index.TableBytes);
        }

        Assert.That(sizes, Is.EqualTo(new long[] { 1 << 20, 2 << 20, 4 << 20 }.Take(sizesSeen)),
            "doubled each time the pages remembered passed a quarter of the entries, up to one entry per RAM page");
        Assert.That(index.TableBytes, Is.EqualTo(DuplicatePageIndex.TableBytesFor(ramPages)));
        int lost = 0;
        for (ulong i = 0; i < pages; i++)
        {
            if (index.TryFindCopy(Fingerprint(i), zero, memory, out PageFrameNumber source))
                Assert.That(source.Value, Is.EqualTo(i), "a page found as another");
            else
                lost++;
        }
        // Without doubling, page 2^17 is a fifth page in set 0, and page 0, the oldest there, is forgotten.
        Assert.That(lost, Is.EqualTo(sizesSeen == 1 ? 1 : 0));
        Assert.That(index.FalseMatches, Is.Zero);
    }

    /// <summary>Both forms, whichever this CPU uses: a machine without AVX2 takes the scalar one.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public void Fingerprints_differ_for_pages_that_differ_in_one_bit_anywhere(bool avx2)
    {
        if (avx2 && !System.Runtime.Intrinsics.X86.Avx2.IsSupported)
            Assert.Ignore("this host has no AVX2: the AVX2 fingerprint cannot run here, in tests or in a capture");
        Func<byte[], ulong> fingerprint = avx2 ? p => DuplicatePageIndex.FingerprintAvx2(p) : p => DuplicatePageIndex.FingerprintScalar(p);
        byte[] page = KdumpCompressedBuilder.Pattern(5);
        ulong original = fingerprint(page);
        var seen = new HashSet<ulong> { original };
        for (int bit = 0; bit < 4096 * 8; bit++)
        {
            page[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.That(seen.Add(fingerprint(page)), Is.True, $"bit {bit}");
            page[bit / 8] ^= (byte)(1 << (bit % 8));
        }
        Assert.That(fingerprint(page), Is.EqualTo(original));
        // Pages that are mostly zero (a fresh page table, a sparse bitmap): one non-zero word anywhere, with any small value.
        var sparse = new HashSet<ulong>();
        for (int word = 0; word < 512; word++)
            for (ulong value = 1; value <= 16; value++)
            {
                byte[] bytes = new byte[4096];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(word * 8), value);
                Assert.That(sparse.Add(fingerprint(bytes)), Is.True, $"word {word} = {value}");
            }
        Assert.That(sparse.Add(fingerprint(new byte[4096])), Is.True, "the zero page");
    }

    [Test]
    public void Fingerprint_bits_are_spread_over_the_set_and_the_tag()
    {
        // 4096 pages differing in one counter: the low 12 bits (the set, in a table of 4096 sets)
        // and the top 24 bits (the tag) must both take most of their values, so neither clusters.
        var sets = new HashSet<ulong>();
        var tags = new HashSet<ulong>();
        byte[] page = KdumpCompressedBuilder.Pattern(9);
        for (uint i = 0; i < 4096; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(100), i);
            ulong f = DuplicatePageIndex.Fingerprint(page);
            sets.Add(f & 0xfff);
            tags.Add(f >> 40);
        }
        Assert.That(sets, Has.Count.GreaterThan(2400), "a random function fills about 63 % of 4096 sets");
        Assert.That(tags, Has.Count.GreaterThan(4000));
    }

    /// <summary>Recomputes a chunk record's payload CRC and header CRC after a test edited its payload (docs/format.md §3).</summary>
    private static void RewriteCrcs(byte[] file, NativeRecord record)
    {
        uint payloadCrc = KdumpSharp.IO.Crc32C.Compute(file.AsSpan((int)record.PayloadOffset, (int)record.PayloadLength));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan((int)record.Offset + 32), payloadCrc);
        byte[] seeded = [.. file.AsSpan(32, 16), .. file.AsSpan((int)record.Offset, 36)];
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan((int)record.Offset + 36), KdumpSharp.IO.Crc32C.Compute(seeded));
    }
}
