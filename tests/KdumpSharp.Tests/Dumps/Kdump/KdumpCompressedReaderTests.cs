using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using static KdumpSharp.Tests.Dumps.Kdump.KdumpTestSupport;

namespace KdumpSharp.Tests.Dumps.Kdump;

public sealed class KdumpCompressedReaderTests
{
    private static readonly PageCompression[] Kinds =
        [PageCompression.None, PageCompression.Zlib, PageCompression.Lzo, PageCompression.Snappy, PageCompression.Zstd];

    [Test]
    public void Header_fields_become_properties()
    {
        using KdumpCompressedReader reader = Open(Typical().Build());

        Assert.That(reader.Name, Is.EqualTo("test.kdump"));
        Assert.That(reader.Properties, Is.EqualTo(new DumpProperties
        {
            Format = DumpFormat.KdumpCompressed,
            Compression = "zlib",
            DumpLevel = 31,
            Version = 6,
        }));
        Assert.That(reader.UtsName, Is.EqualTo(new UtsName("Linux", "testhost", "6.1.0-56-amd64",
            "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1", "x86_64", "(none)")));
        Assert.That(reader.PhysBase, Is.EqualTo(0x1c000000));
    }

    [Test]
    public void Notes_and_vmcoreinfo_are_read_from_the_sub_header_area()
    {
        using KdumpCompressedReader reader = Open(Typical().Build());

        Assert.That(reader.Notes.Select(n => (n.Name, n.Type)), Is.EqualTo(new[] { ("CORE", 1u), ("VMCOREINFO", 0u), ("CORE", 1u) }));
        Assert.That(reader.Notes[0].Descriptor.Length, Is.EqualTo(336));
        Assert.That(reader.Vmcoreinfo!.OsRelease, Is.EqualTo("6.1.0-56-amd64"));
        Assert.That(reader.Vmcoreinfo.Number("phys_base"), Is.EqualTo(0x1c000000));
    }

    [Test]
    public void Vmcoreinfo_comes_from_the_notes_when_the_sub_header_has_no_pointer()
    {
        KdumpImage image = Typical().Build();
        image = image.WithInt64(image.SubHeader(KdumpCompressedBuilder.OffsetVmcoreinfoField), 0);
        using KdumpCompressedReader reader = Open(image);
        Assert.That(reader.Vmcoreinfo!.OsRelease, Is.EqualTo("6.1.0-56-amd64"));
    }

    [Test]
    public void Ranges_are_the_runs_of_the_first_bitmap()
    {
        using KdumpCompressedReader reader = Open(Typical().Build());
        Assert.That(reader.Memory.Ranges, Is.EqualTo(new[]
        {
            PhysicalRange.FromLength(0, 40 * 4096),
            PhysicalRange.FromLength(100 * 4096, 64 * 4096),
        }));
    }

    [Test]
    public void Runs_crossing_words_and_rank_blocks_are_found_exactly()
    {
        KdumpImage image = new KdumpCompressedBuilder()
            .AddRam(63, 2).AddRam(127, 1).AddRam(4090, 12).AddRam(8191, 4097).AddRam(12289, 1)
            .Build();
        using KdumpCompressedReader reader = Open(image);
        Assert.That(reader.Memory.Ranges.Select(r => (r.Start.Frame.Value, r.End.Frame.Value)), Is.EqualTo(new (ulong, ulong)[]
        {
            (63, 65), (127, 128), (4090, 4102), (8191, 12288), (12289, 12290),
        }));
        foreach (ulong pfn in new ulong[] { 63, 64, 127, 4095, 4096, 4101, 8191, 12287, 12289 })
        {
            byte[] page = Read(reader.Memory, pfn, out PageState state);
            Assert.That(state, Is.EqualTo(PageState.Present), $"pfn {pfn}");
            Assert.That(page, Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)), $"pfn {pfn}");
        }
    }

    [TestCaseSource(nameof(Kinds))]
    public void Every_page_reads_back_with_its_state(PageCompression kind)
    {
        KdumpCompressedBuilder builder = Typical();
        builder.Compression = kind;
        using KdumpCompressedReader reader = Open(builder.Build());

        for (ulong pfn = 0; pfn < 170; pfn++)
        {
            byte[] page = Read(reader.Memory, pfn, out PageState state);
            bool ram = pfn < 40 || pfn is >= 100 and < 164;
            PageState expected = !ram ? PageState.NotInDump : pfn is 3 or 120 ? PageState.Excluded : PageState.Present;
            Assert.That(state, Is.EqualTo(expected), $"pfn {pfn}");
            Assert.That(reader.Memory.GetPageState(new PageFrameNumber(pfn)), Is.EqualTo(expected), $"pfn {pfn}");
            if (expected == PageState.Present)
                Assert.That(page, Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)), $"pfn {pfn}");
        }
    }

    [Test]
    public void Raw_pages_and_shared_zero_pages_read_back()
    {
        KdumpCompressedBuilder builder = Typical();
        builder.ShareZeroPages = true;
        builder.SetPage(5, new byte[4096]).SetPage(6, new byte[4096]).SetPage(7, PageCodecRandom()).StoreRaw(8);
        KdumpImage image = builder.Build();
        using KdumpCompressedReader reader = Open(image);

        Assert.That(image.Pages[5].DataOffset, Is.EqualTo(image.Pages[6].DataOffset));
        Assert.That(image.Pages[7].Flags, Is.Zero);
        Assert.That(image.Pages[8].Flags, Is.Zero);
        Assert.That(Read(reader.Memory, 5, out _), Is.All.Zero);
        Assert.That(Read(reader.Memory, 6, out _), Is.All.Zero);
        Assert.That(Read(reader.Memory, 7, out _), Is.EqualTo(PageCodecRandom()));
        Assert.That(Read(reader.Memory, 8, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(8)));
    }

    private static byte[] PageCodecRandom()
    {
        var page = new byte[4096];
        new Random(42).NextBytes(page);
        return page;
    }

    [Test]
    public void Physical_reads_cross_pages_and_fault_on_excluded_ones()
    {
        using KdumpCompressedReader reader = Open(Typical().Build());
        var bytes = new byte[8192];
        reader.Memory.Read(new PhysicalAddress(4 * 4096 + 2048), bytes);
        Assert.That(bytes[..2048], Is.EqualTo(KdumpCompressedBuilder.Pattern(4)[2048..]));
        Assert.That(bytes[2048..6144], Is.EqualTo(KdumpCompressedBuilder.Pattern(5)));

        var fault = Assert.Throws<MemoryFaultException>(() => reader.Memory.Read(new PhysicalAddress(3 * 4096 - 8), new byte[16]));
        Assert.That(fault!.Address, Is.EqualTo(3 * 4096));
        Assert.That(fault.State, Is.EqualTo(PageState.Excluded));
    }

    [Test]
    public void Pages_beyond_max_mapnr_are_not_in_the_dump()
    {
        KdumpCompressedBuilder builder = Typical();
        builder.MaxMapnr = 120;
        using KdumpCompressedReader reader = Open(builder.Build());
        Read(reader.Memory, 119, out PageState inside);
        Read(reader.Memory, 121, out PageState beyond);
        Assert.That((inside, beyond), Is.EqualTo((PageState.Present, PageState.NotInDump)));
        Assert.That(reader.Memory.Ranges[^1].End.Frame.Value, Is.EqualTo(120));
    }

    [Test]
    public void Incomplete_flag_and_offset_zero_descriptors_mean_lost_pages()
    {
        KdumpCompressedBuilder builder = Typical();
        builder.ExtraStatus = KdumpCompressedBuilder.FlagIncomplete;
        KdumpImage image = builder.Build();
        image = image.With(b => Array.Clear(b, (int)image.Pages[10].DescriptorOffset, 24));
        using KdumpCompressedReader reader = Open(image);

        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Properties.IncompleteReason, Does.Contain("makedumpfile marked the dump incomplete"));
        Read(reader.Memory, 10, out PageState state);
        Assert.That(state, Is.EqualTo(PageState.Lost));
        Read(reader.Memory, 11, out PageState next);
        Assert.That(next, Is.EqualTo(PageState.Present));
    }

    /// <summary>Cuts the file at every boundary that matters and one byte either side: opening fails
    /// only inside the metadata, and otherwise every page wholly in the file reads, the rest are lost.</summary>
    [Test]
    public void A_truncated_file_reads_every_page_that_is_wholly_there()
    {
        KdumpImage full = Typical().Build();
        var cuts = new SortedSet<long> { 0, 7, 8, 463, 464, 4096, 4200, full.Bitmap1Offset, full.Bitmap2Offset, full.DescriptorsOffset - 1 };
        foreach (PagePlacement p in full.Pages.Values)
            foreach (long boundary in new[] { p.DescriptorOffset, p.DescriptorOffset + 24, p.DataOffset, p.DataOffset + p.Size })
                for (long d = -1; d <= 1; d++)
                    cuts.Add(boundary + d);

        foreach (long cut in cuts.Where(c => c >= 0 && c < full.Bytes.Length))
        {
            KdumpImage image = full.Truncated(cut);
            if (cut < 8)
            {
                Assert.Throws<UnrecognizedDumpException>(() => Open(image), $"cut {cut}");
                continue;
            }
            if (cut < full.DescriptorsOffset)
            {
                var e = Assert.Throws<DumpFormatException>(() => Open(image), $"cut {cut}");
                Assert.That(e!.Message, Does.Contain("truncated"), $"cut {cut}");
                continue;
            }
            using KdumpCompressedReader reader = Open(image);
            Assert.That(reader.Properties.IsIncomplete, Is.True, $"cut {cut}");
            Assert.That(reader.Properties.IncompleteReason, Does.Contain($"ends at 0x{cut:x}"), $"cut {cut}");
            foreach ((ulong pfn, PagePlacement p) in full.Pages)
            {
                byte[] page = Read(reader.Memory, pfn, out PageState state);
                bool whole = p.DescriptorOffset + 24 <= cut && p.DataOffset + p.Size <= cut;
                Assert.That(state, Is.EqualTo(whole ? PageState.Present : PageState.Lost), $"cut {cut}, pfn {pfn}");
                if (whole)
                    Assert.That(page, Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)), $"cut {cut}, pfn {pfn}");
            }
        }
    }

    [Test]
    public void A_whole_file_is_not_incomplete_and_opening_reads_no_page_data()
    {
        KdumpImage image = Typical().Build();
        var source = new RecordingSource(new MemorySource("test.kdump", image.Bytes));
        using KdumpCompressedReader reader = KdumpCompressedReader.Open(source, DumpLimits.Default);
        Assert.That(reader.Properties.IsIncomplete, Is.False);
        // Only the last descriptor and the end of its data are checked for truncation.
        KeyValuePair<ulong, PagePlacement> last = image.Pages.Last();
        Assert.That(source.HighestByteRead, Is.LessThan(image.DataOffset));
        Assert.That(last.Value.DataOffset + last.Value.Size, Is.EqualTo(image.Bytes.Length));
    }

    public static IEnumerable<TestCaseData> CorruptHeaders()
    {
        KdumpImage v = Typical().Build();
        yield return Case("header_version 7", v.WithInt32(KdumpCompressedBuilder.HeaderVersionField, 7), "header_version 7 is not one this reader knows (0 to 6)");
        yield return Case("header_version -1", v.WithInt32(KdumpCompressedBuilder.HeaderVersionField, -1), "header_version -1");
        yield return Case("block_size 8192", v.WithInt32(KdumpCompressedBuilder.BlockSizeField, 8192), "block_size is 8192; only 4096-byte pages are supported");
        yield return Case("block_size 0", v.WithInt32(KdumpCompressedBuilder.BlockSizeField, 0), "block_size is 0");
        yield return Case("sub_hdr_size 0", v.WithInt32(KdumpCompressedBuilder.SubHeaderSizeField, 0), "sub_hdr_size 0 leaves no room for the sub header");
        yield return Case("sub_hdr_size huge", v.WithInt32(KdumpCompressedBuilder.SubHeaderSizeField, int.MaxValue), "file is truncated: the headers and bitmaps need");
        yield return Case("bitmap_blocks huge", v.WithUInt32(KdumpCompressedBuilder.BitmapBlocksField, uint.MaxValue), "file is truncated: the headers and bitmaps need");
        yield return Case("bitmap_blocks 1", v.WithUInt32(KdumpCompressedBuilder.BitmapBlocksField, 1), "bitmap_blocks 1 cannot hold two bitmaps of max_mapnr 0xa4 pages");
        yield return Case("max_mapnr_64 beyond the bitmaps", v.WithUInt64(v.SubHeader(KdumpCompressedBuilder.MaxMapnr64Field), 1UL << 20), "cannot hold two bitmaps of max_mapnr 0x100000");
        yield return Case("max_mapnr_64 beyond the limit", v.WithUInt64(v.SubHeader(KdumpCompressedBuilder.MaxMapnr64Field), 1UL << 41), "max_mapnr 0x20000000000 exceeds the limit of 0x10000000000 page frames");
        yield return Case("size_note beyond the sub header", v.WithUInt64(v.SubHeader(KdumpCompressedBuilder.SizeNoteField), 5000), "ELF notes at offset 0x1068, 5000 bytes, lie outside the sub header blocks");
        yield return Case("size_note beyond the limit", v.WithUInt64(v.SubHeader(KdumpCompressedBuilder.SizeNoteField), 1UL << 40), "ELF notes: 1099511627776 bytes, more than the limit of 16777216");
        yield return Case("offset_note in the header", v.WithInt64(v.SubHeader(KdumpCompressedBuilder.OffsetNoteField), 16), "ELF notes at offset 0x10");
        yield return Case("offset_note negative", v.WithInt64(v.SubHeader(KdumpCompressedBuilder.OffsetNoteField), -4096), "ELF notes at offset 0x");
        yield return Case("offset_vmcoreinfo in the bitmaps", v.WithInt64(v.SubHeader(KdumpCompressedBuilder.OffsetVmcoreinfoField), v.Bitmap1Offset), "VMCOREINFO at offset 0x2000");
        yield return Case("size_vmcoreinfo beyond the limit", v.WithUInt64(v.SubHeader(KdumpCompressedBuilder.SizeVmcoreinfoField), 2 << 20), "VMCOREINFO: 2097152 bytes, more than the limit of 1048576");
        yield return Case("note claiming more than the blob", v.WithUInt32(v.NotesOffset + 4, 100_000), "ELF note claims 5+100000 bytes");
        yield return Case("split end beyond max_mapnr", v.WithInt32(v.SubHeader(KdumpCompressedBuilder.SplitField), 1)
            .WithUInt64(v.SubHeader(KdumpCompressedBuilder.EndPfn64Field), 1000), "split file range [0x0, 0x3e8) is not inside max_mapnr 0xa4");

        static TestCaseData Case(string name, KdumpImage image, string message) => new TestCaseData(image.Bytes, message).SetName($"Corrupt header: {name}");
    }

    [TestCaseSource(nameof(CorruptHeaders))]
    public void A_corrupt_header_is_a_format_error_naming_the_field(byte[] image, string message)
    {
        var e = Assert.Throws<DumpFormatException>(() => KdumpCompressedReader.Open(new MemorySource("test.kdump", image), DumpLimits.Default));
        Assert.That(e, Is.Not.InstanceOf<UnrecognizedDumpException>());
        Assert.That(e!.Message, Does.StartWith("test.kdump: "));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void Another_signature_is_unrecognized()
    {
        KdumpImage image = Typical().Build().With(b => "ELF\x7f"u8.CopyTo(b));
        var e = Assert.Throws<UnrecognizedDumpException>(() => Open(image));
        Assert.That(e!.Message, Is.EqualTo("test.kdump: not a kdump-compressed dump (no \"KDUMP   \" or \"DISKDUMP\" signature at offset 0)"));
        Assert.That(KdumpCompressedReader.HasSignature(new MemorySource("x", image.Bytes)), Is.False);
        Assert.That(KdumpCompressedReader.HasSignature(new MemorySource("x", Typical().Build().Bytes)), Is.True);
    }

    [Test]
    public void More_ram_ranges_than_the_limit_is_an_error()
    {
        KdumpImage image = Typical().Build();
        var e = Assert.Throws<DumpFormatException>(() => Open(image, DumpLimits.Default with { MaxProgramHeaders = 1 }));
        Assert.That(e!.Message, Does.Contain("the 1st page bitmap describes more than 1 separate RAM ranges"));
    }

    public static IEnumerable<TestCaseData> CorruptPages()
    {
        KdumpImage v = Typical().Build();
        PagePlacement p = v.Pages[10];
        yield return Page("size above the block", v.WithUInt32(p.DescriptorOffset + 8, 4097), PageState.Unreadable);
        yield return Page("size 0", v.WithUInt32(p.DescriptorOffset + 8, 0), PageState.Unreadable);
        yield return Page("raw page shorter than a block", v.WithUInt32(p.DescriptorOffset + 12, 0), PageState.Unreadable);
        yield return Page("unknown flag 0x8", v.WithUInt32(p.DescriptorOffset + 12, 0x8), PageState.Unreadable);
        yield return Page("two compression flags", v.WithUInt32(p.DescriptorOffset + 12, 0x3), PageState.Unreadable);
        yield return Page("raw page pointing into the descriptors", v.WithInt64(p.DescriptorOffset, v.DescriptorsOffset)
            .WithUInt32(p.DescriptorOffset + 8, 4096).WithUInt32(p.DescriptorOffset + 12, 0), PageState.Unreadable);
        yield return Page("negative data offset", v.WithInt64(p.DescriptorOffset, -1), PageState.Unreadable);
        yield return Page("data offset past the end", v.WithInt64(p.DescriptorOffset, v.Bytes.Length - 10), PageState.Lost);
        yield return Page("data offset near long.MaxValue", v.WithInt64(p.DescriptorOffset, long.MaxValue - 1), PageState.Lost);
        yield return Page("corrupt compressed bytes", v.With(b => b.AsSpan((int)p.DataOffset + 2, 16).Fill(0xff)), PageState.Unreadable);
        yield return Page("wrong compression flag", v.WithUInt32(p.DescriptorOffset + 12, 0x20), PageState.Unreadable);

        static TestCaseData Page(string name, KdumpImage image, PageState state) => new TestCaseData(image.Bytes, state).SetName($"Corrupt page: {name}");
    }

    [TestCaseSource(nameof(CorruptPages))]
    public void A_corrupt_descriptor_or_page_affects_that_page_only(byte[] image, PageState expected)
    {
        using KdumpCompressedReader reader = KdumpCompressedReader.Open(new MemorySource("test.kdump", image), DumpLimits.Default);
        Read(reader.Memory, 10, out PageState state);
        Assert.That(state, Is.EqualTo(expected));
        Assert.That(Read(reader.Memory, 9, out PageState before), Is.EqualTo(KdumpCompressedBuilder.Pattern(9)));
        Assert.That(Read(reader.Memory, 11, out PageState after), Is.EqualTo(KdumpCompressedBuilder.Pattern(11)));
        Assert.That((before, after), Is.EqualTo((PageState.Present, PageState.Present)));
    }

    [Test]
    public void Page_state_does_not_decode_so_bad_data_shows_only_on_read()
    {
        KdumpImage image = Typical().Build();
        PagePlacement p = image.Pages[10];
        using KdumpCompressedReader reader = Open(image.With(b => b.AsSpan((int)p.DataOffset + 2, 16).Fill(0xff)));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(10)), Is.EqualTo(PageState.Present));
        Read(reader.Memory, 10, out PageState state);
        Assert.That(state, Is.EqualTo(PageState.Unreadable));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void Older_header_versions_read_only_the_fields_they_define(int version)
    {
        KdumpCompressedBuilder builder = Typical();
        builder.HeaderVersion = version;
        using KdumpCompressedReader reader = Open(builder.Build());

        Assert.That(reader.Properties.Version, Is.EqualTo(version));
        Assert.That(reader.Properties.DumpLevel, Is.EqualTo(version >= 1 ? 31 : null));
        Assert.That(reader.Notes, Has.Count.EqualTo(version >= 4 ? 3 : 0));
        Assert.That(reader.Vmcoreinfo?.OsRelease, Is.EqualTo(version >= 3 ? "6.1.0-56-amd64" : null));
        Assert.That(Read(reader.Memory, 150, out PageState state), Is.EqualTo(KdumpCompressedBuilder.Pattern(150)));
        Assert.That(state, Is.EqualTo(PageState.Present));
    }

    [Test]
    public void Header_version_5_takes_max_mapnr_from_the_32_bit_header_field()
    {
        KdumpCompressedBuilder builder = Typical();
        builder.HeaderVersion = 5;
        KdumpImage image = builder.Build().WithUInt32(KdumpCompressedBuilder.MaxMapnrField, 120);
        using KdumpCompressedReader reader = Open(image);
        Read(reader.Memory, 125, out PageState state);
        Assert.That(state, Is.EqualTo(PageState.NotInDump));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Diskdump_files_read_with_one_or_two_bitmaps(bool single)
    {
        var builder = new KdumpCompressedBuilder { Signature = "DISKDUMP", HeaderVersion = 1, SingleBitmap = single }.AddRam(0, 20);
        if (!single)
            builder.Exclude(4);
        using KdumpCompressedReader reader = Open(builder.Build());

        Assert.That(reader.Properties.Format, Is.EqualTo(DumpFormat.KdumpCompressed));
        Assert.That(reader.Properties.DumpLevel, Is.Null);
        Assert.That(reader.PhysBase, Is.Null);
        Assert.That(reader.Notes, Is.Empty);
        Assert.That(reader.UtsName.Machine, Is.EqualTo("x86_64"));
        Read(reader.Memory, 4, out PageState four);
        Assert.That(four, Is.EqualTo(single ? PageState.Present : PageState.Excluded));
        Assert.That(Read(reader.Memory, 19, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(19)));
    }

    [Test]
    public void A_split_file_holds_only_its_range_with_descriptors_counted_from_its_start()
    {
        KdumpCompressedBuilder builder = Typical();
        builder.Split = (20, 110);
        using KdumpCompressedReader reader = Open(builder.Build());

        Assert.That(reader.Memory.Ranges, Is.EqualTo(new[]
        {
            PhysicalRange.FromLength(20 * 4096, 20 * 4096),
            PhysicalRange.FromLength(100 * 4096, 10 * 4096),
        }));
        Read(reader.Memory, 19, out PageState before);
        Read(reader.Memory, 110, out PageState after);
        Assert.That((before, after), Is.EqualTo((PageState.NotInDump, PageState.NotInDump)));
        foreach (ulong pfn in new ulong[] { 20, 39, 100, 109 })
            Assert.That(Read(reader.Memory, pfn, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)), $"pfn {pfn}");
        Assert.That(reader.Properties.IsIncomplete, Is.False);
    }

    [Test]
    public void Concurrent_reads_return_the_right_pages()
    {
        using KdumpCompressedReader reader = Open(Typical().Build());
        Parallel.For(0, 2000, i =>
        {
            ulong pfn = (ulong)(100 + i * 7 % 64);
            if (pfn == 120)
                return;
            byte[] page = Read(reader.Memory, pfn, out PageState state);
            if (state != PageState.Present || !page.AsSpan().SequenceEqual(KdumpCompressedBuilder.Pattern(pfn)))
                Assert.Fail($"pfn {pfn}: {state}");
        });
    }

    [Test]
    public void The_reader_disposes_its_source_unless_asked_to_leave_it_open()
    {
        byte[] bytes = Typical().Build().Bytes;
        var owned = new RecordingSource(new MemorySource("a", bytes));
        KdumpCompressedReader.Open(owned, DumpLimits.Default).Dispose();
        var kept = new RecordingSource(new MemorySource("b", bytes));
        KdumpCompressedReader.Open(kept, DumpLimits.Default, leaveOpen: true).Dispose();
        var failed = new RecordingSource(new MemorySource("c", bytes[..100]));
        Assert.Throws<DumpFormatException>(() => KdumpCompressedReader.Open(failed, DumpLimits.Default));

        Assert.That((owned.Disposed, kept.Disposed, failed.Disposed), Is.EqualTo((true, false, true)));
    }
}
