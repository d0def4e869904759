using System.Buffers.Binary;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using static KdumpSharp.Tests.Dumps.Kdump.KdumpTestSupport;

namespace KdumpSharp.Tests.Dumps.Kdump;

public sealed class KdumpCompressedWriterTests
{
    private static readonly PageCompression[] Kinds =
        [PageCompression.None, PageCompression.Zlib, PageCompression.Lzo, PageCompression.Snappy, PageCompression.Zstd];

    /// <summary>RAM [0, 40) and [100, 164) pages; 3 excluded, 10 lost, 11 unreadable, 20 and 21 all zero,
    /// 22 random; the rest carry <see cref="KdumpCompressedBuilder.Pattern"/>.</summary>
    private static FakeDumpReader Source(IReadOnlyList<ElfNote>? notes = null)
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, 40 * 4096), PhysicalRange.FromLength(100 * 4096, 64 * 4096));
        foreach (ulong pfn in Enumerable.Range(0, 40).Concat(Enumerable.Range(100, 64)).Select(p => (ulong)p))
            if (pfn is not (20 or 21))
                memory.Write(pfn * 4096, KdumpCompressedBuilder.Pattern(pfn));
        memory.Write(22 * 4096, RandomPage());
        memory.SetState(new PageFrameNumber(3), PageState.Excluded);
        memory.SetState(new PageFrameNumber(10), PageState.Lost);
        memory.SetState(new PageFrameNumber(11), PageState.Unreadable);
        return new FakeDumpReader(memory, notes ?? [FakeDumpReader.PrStatusNote(1), FakeDumpReader.VmcoreinfoNote(VmcoreinfoText), FakeDumpReader.PrStatusNote(2)]);
    }

    private static byte[] RandomPage()
    {
        var page = new byte[4096];
        new Random(22).NextBytes(page);
        return page;
    }

    private static byte[] Write(IDumpReader source, KdumpWriterOptions? options = null) => Write(source, options, out _);

    private static byte[] Write(IDumpReader source, KdumpWriterOptions? options, out KdumpWriteResult result)
    {
        using var output = new MemoryStream();
        result = KdumpCompressedWriter.Write(source, output, options);
        return output.ToArray();
    }

    private static KdumpCompressedReader Reopen(byte[] file) => KdumpCompressedReader.Open(new MemorySource("written.kdump", file), DumpLimits.Default);

    [TestCaseSource(nameof(Kinds))]
    public void Pages_round_trip_with_their_states(PageCompression kind)
    {
        using FakeDumpReader source = Source();
        byte[] file = Write(source, new KdumpWriterOptions { Compression = kind }, out KdumpWriteResult result);
        using KdumpCompressedReader reader = Reopen(file);

        Assert.That(reader.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        for (ulong pfn = 0; pfn < 170; pfn++)
        {
            byte[] expected = Read(source.Memory, pfn, out PageState sourceState);
            byte[] actual = Read(reader.Memory, pfn, out PageState state);
            PageState expectedState = sourceState == PageState.Unreadable ? PageState.Lost : sourceState;
            Assert.That(state, Is.EqualTo(expectedState), $"pfn {pfn}");
            if (state == PageState.Present)
                Assert.That(actual, Is.EqualTo(expected), $"pfn {pfn}");
        }
        Assert.That(result, Is.EqualTo(new KdumpWriteResult(DumpedPages: 103, ZeroPages: 0, RawPages: kind == PageCompression.None ? 101 : 1,
            LostPages: 2, Bytes: file.Length)));
    }

    [Test]
    public void Header_records_compression_level_utsname_phys_base_and_time()
    {
        using FakeDumpReader source = Source();
        byte[] file = Write(source, new KdumpWriterOptions { Compression = PageCompression.Zstd, DumpLevel = 17 });
        using KdumpCompressedReader reader = Reopen(file);

        Assert.That(reader.Properties, Is.EqualTo(new DumpProperties
        {
            Format = DumpFormat.KdumpCompressed,
            Compression = "zstd",
            DumpLevel = 17,
            Version = 6,
            IsIncomplete = true,
            IncompleteReason = "makedumpfile marked the dump incomplete (out of space, or the -L size limit)",
        }));
        Assert.That(reader.UtsName, Is.EqualTo(new UtsName("Linux", "", "6.1.0-56-amd64", "", "x86_64", "")));
        Assert.That(reader.PhysBase, Is.EqualTo(469762048));
        // Fields checked at the offsets makedumpfile's diskdump_mod.h gives them, independently of the reader.
        Assert.That(file[..8], Is.EqualTo("KDUMP   "u8.ToArray()));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(KdumpCompressedBuilder.HeaderVersionField)), Is.EqualTo(6));
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(KdumpCompressedBuilder.TimestampField)), Is.EqualTo(1700000123));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(KdumpCompressedBuilder.StatusField)), Is.EqualTo(0x20 | 0x8));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(KdumpCompressedBuilder.BlockSizeField)), Is.EqualTo(4096));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(KdumpCompressedBuilder.NrCpusField)), Is.EqualTo(2));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(KdumpCompressedBuilder.MaxMapnrField)), Is.EqualTo(164));
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.OffsetNoteField)), Is.EqualTo(4200));
    }

    [Test]
    public void Notes_are_copied_in_order_with_vmcoreinfo_pointing_inside_them()
    {
        using FakeDumpReader source = Source();
        byte[] file = Write(source);
        using KdumpCompressedReader reader = Reopen(file);

        Assert.That(reader.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray())),
            Is.EqualTo(source.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray()))));
        long offsetNote = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.OffsetNoteField));
        long sizeNote = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.SizeNoteField));
        long offsetVmcoreinfo = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.OffsetVmcoreinfoField));
        long sizeVmcoreinfo = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.SizeVmcoreinfoField));
        Assert.That(offsetVmcoreinfo, Is.InRange(offsetNote, offsetNote + sizeNote - sizeVmcoreinfo));
        Assert.That(System.Text.Encoding.ASCII.GetString(file, (int)offsetVmcoreinfo, (int)sizeVmcoreinfo), Is.EqualTo(VmcoreinfoText));
    }

    /// <summary>VMCOREINFO enough for drgn 0.0.22 with libkdumpfile 0.5.1 to open a dump and read
    /// physical memory; init_uts_ns at physical 0x20000 (phys_base 0).</summary>
    private const string DrgnVmcoreinfo =
        "OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0c000\nSYMBOL(init_top_pgt)=ffffffff82a0c000\n" +
        "SYMBOL(init_uts_ns)=ffffffff80020000\nOFFSET(uts_namespace.name)=0\nNUMBER(phys_base)=0\nNUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=0\n";

    private static readonly UtsName CrashedUts = new("Linux", "crashed", "6.1.0-56-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1", "x86_64", "(none)");

    private static FakeDumpReader SourceWithUtsNameInMemory()
    {
        FakeDumpReader source = Source([FakeDumpReader.PrStatusNote(1), FakeDumpReader.VmcoreinfoNote(DrgnVmcoreinfo)]);
        var uts = new byte[390];
        CrashedUts.Write(uts);
        ((SparsePhysicalMemory)source.Memory).Write(0x20000, uts);
        return source;
    }

    [Test]
    public void The_utsname_is_read_from_init_uts_ns_when_the_source_has_none()
    {
        using FakeDumpReader source = SourceWithUtsNameInMemory();
        using KdumpCompressedReader reader = Reopen(Write(source));
        Assert.That(reader.UtsName, Is.EqualTo(CrashedUts));
        var chosen = new UtsName("Linux", "other", "x", "y", "z", "");
        using KdumpCompressedReader overridden = Reopen(Write(source, new KdumpWriterOptions { UtsName = chosen }));
        Assert.That(overridden.UtsName, Is.EqualTo(chosen));
    }

    /// <summary>drgn (through libkdumpfile, both installed by scripts/setup.sh) reads physical memory
    /// from what the writer produces, for every compression the format has.</summary>
    [TestCaseSource(nameof(Kinds))]
    [Category("Peer")]
    public void Drgn_reads_physical_memory_from_the_written_file(PageCompression kind)
    {
        string python = PeerTools.RequireDrgn();
        using FakeDumpReader source = SourceWithUtsNameInMemory();
        string path = Path.Combine(Directory.CreateTempSubdirectory("kds-writer-").FullName, "dump.kdump");
        try
        {
            File.WriteAllBytes(path, Write(source, new KdumpWriterOptions { Compression = kind, DumpLevel = 1 }));
            const string Script = """
                import sys, drgn
                p = drgn.Program()
                p.set_core_dump(sys.argv[1])
                for pfn in (0, 2, 20, 22, 39, 100, 163):
                    print(p.read(pfn * 4096, 4096, True).hex())
                for pfn in (3, 10, 50):
                    try:
                        p.read(pfn * 4096, 8, True)
                        print("read")
                    except drgn.FaultError:
                        print("fault")
                """;
            (int exitCode, string output) = PeerTools.Run($"'{python}' -c '{Script}' '{path}'");
            Assert.That(exitCode, Is.Zero, output);
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string[] expected = [.. new ulong[] { 0, 2, 20, 22, 39, 100, 163 }.Select(pfn => Convert.ToHexStringLower(Read(source.Memory, pfn, out _))),
                "fault", "fault", "fault"];
            Assert.That(lines, Is.EqualTo(expected));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    /// <summary>crash (installed by scripts/setup.sh) opens the written header, sub header and bitmaps
    /// and finds VMCOREINFO through offset_vmcoreinfo; without a vmlinux this is as far as it goes.</summary>
    [TestCaseSource(nameof(Kinds))]
    [Category("Peer")]
    public void Crash_finds_the_release_in_the_written_file(PageCompression kind)
    {
        string crash = PeerTools.Require("crash");
        using FakeDumpReader source = SourceWithUtsNameInMemory();
        string path = Path.Combine(Directory.CreateTempSubdirectory("kds-writer-").FullName, "dump.kdump");
        try
        {
            File.WriteAllBytes(path, Write(source, new KdumpWriterOptions { Compression = kind }));
            (int exitCode, string output) = PeerTools.Run($"'{crash}' --osrelease '{path}'");
            Assert.That((exitCode, output.Trim()), Is.EqualTo((0, "6.1.0-56-amd64")));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Test]
    public void Vmcoreinfo_without_a_note_gets_one()
    {
        using var source = new FakeDumpReader(Source().Memory, [FakeDumpReader.PrStatusNote(1)])
        {
            Vmcoreinfo = KdumpSharp.Kernel.Vmcoreinfo.Parse("OSRELEASE=5.10.0-9-amd64\nPAGESIZE=4096\n"u8),
        };
        using KdumpCompressedReader reader = Reopen(Write(source));
        Assert.That(reader.Notes.Select(n => n.Name), Is.EqualTo(new[] { "CORE", "VMCOREINFO" }));
        Assert.That(reader.Vmcoreinfo!.OsRelease, Is.EqualTo("5.10.0-9-amd64"));
        Assert.That(reader.UtsName, Is.EqualTo(new UtsName("Linux", "", "5.10.0-9-amd64", "", "", "")));
    }

    [Test]
    public void A_source_without_notes_writes_none()
    {
        using var source = new FakeDumpReader(Source().Memory, []);
        byte[] file = Write(source);
        using KdumpCompressedReader reader = Reopen(file);
        Assert.That((reader.Notes.Count, reader.Vmcoreinfo, reader.UtsName), Is.EqualTo((0, (KdumpSharp.Kernel.Vmcoreinfo?)null, UtsName.Empty)));
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(4096 + KdumpCompressedBuilder.OffsetNoteField)), Is.Zero);
        Assert.That(Read(reader.Memory, 150, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(150)));
    }

    [Test]
    public void Zero_pages_share_one_descriptor_only_when_the_level_excludes_zero_pages()
    {
        using FakeDumpReader source = Source();
        byte[] shared = Write(source, new KdumpWriterOptions { DumpLevel = 1 }, out KdumpWriteResult sharedResult);
        byte[] separate = Write(source, new KdumpWriterOptions { DumpLevel = 0 }, out KdumpWriteResult separateResult);

        Assert.That((sharedResult.ZeroPages, separateResult.ZeroPages), Is.EqualTo((2, 0)));
        using KdumpCompressedReader reader = Reopen(shared);
        Assert.That(Read(reader.Memory, 20, out PageState state), Is.All.Zero);
        Assert.That(state, Is.EqualTo(PageState.Present));
        long descriptors = (1 + BinaryPrimitives.ReadInt32LittleEndian(shared.AsSpan(KdumpCompressedBuilder.SubHeaderSizeField))
            + BinaryPrimitives.ReadUInt32LittleEndian(shared.AsSpan(KdumpCompressedBuilder.BitmapBlocksField))) * 4096L;
        // pfns 20 and 21 are the 19th and 20th dumped pages (pfn 3 is excluded).
        long zero20 = BinaryPrimitives.ReadInt64LittleEndian(shared.AsSpan((int)(descriptors + 19 * 24)));
        long zero21 = BinaryPrimitives.ReadInt64LittleEndian(shared.AsSpan((int)(descriptors + 20 * 24)));
        long dataStart = descriptors + 103 * 24;
        Assert.That((zero20, zero21), Is.EqualTo((dataStart, dataStart)));
        Assert.That(shared.AsSpan((int)dataStart, 4096).ToArray(), Is.All.Zero);
    }

    /// <summary>The builder lays files out from makedumpfile's documentation, independently of the
    /// writer: rewriting its output must give back the same bytes.</summary>
    [TestCaseSource(nameof(Kinds))]
    public void Rewriting_a_makedumpfile_layout_gives_the_same_bytes(PageCompression kind)
    {
        KdumpCompressedBuilder builder = Typical().SetPage(30, new byte[4096]).SetPage(31, RandomPage());
        builder.Compression = kind;
        builder.ShareZeroPages = true;
        builder.Timestamp = 1700000123;
        builder.PhysBase = 469762048;
        byte[] original = builder.Build().Bytes;

        using KdumpCompressedReader source = Reopen(original);
        byte[] rewritten = Write(source, new KdumpWriterOptions { Compression = kind });
        Assert.That(rewritten.Length, Is.EqualTo(original.Length));
        int firstDifference = rewritten.AsSpan().CommonPrefixLength(original);
        Assert.That(firstDifference, Is.EqualTo(original.Length), $"first difference at 0x{firstDifference:x}");
    }

    [Test]
    public void A_dump_written_after_other_bytes_keeps_offsets_relative_to_its_start()
    {
        using FakeDumpReader source = Source();
        using var output = new MemoryStream();
        output.Write(new byte[100]);
        KdumpCompressedWriter.Write(source, output);
        Assert.That(output.Position, Is.EqualTo(output.Length));
        using KdumpCompressedReader reader = Reopen(output.ToArray()[100..]);
        Assert.That(Read(reader.Memory, 163, out _), Is.EqualTo(KdumpCompressedBuilder.Pattern(163)));
    }

    [Test]
    public void Unaligned_ranges_mark_every_page_they_touch()
    {
        var memory = new SparsePhysicalMemory(new PhysicalRange(new PhysicalAddress(0x1800), new PhysicalAddress(0x3800)));
        memory.Write(0x1800, [1, 2, 3]);
        using var source = new FakeDumpReader(memory, []);
        using KdumpCompressedReader reader = Reopen(Write(source));
        Assert.That(reader.Memory.Ranges, Is.EqualTo(new[] { PhysicalRange.FromLength(0x1000, 0x3000) }));
        Assert.That(Read(reader.Memory, 1, out _)[0x800..0x803], Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public void Lz4_and_unseekable_outputs_are_refused_before_writing()
    {
        using FakeDumpReader source = Source();
        var e = Assert.Throws<ArgumentException>(() => KdumpCompressedWriter.Write(source, new MemoryStream(), new KdumpWriterOptions { Compression = PageCompression.Lz4 }));
        Assert.That(e!.Message, Does.StartWith("the kdump-compressed format has no page flag for lz4"));
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out);
        e = Assert.Throws<ArgumentException>(() => KdumpCompressedWriter.Write(source, pipe));
        Assert.That(e!.Message, Does.StartWith("the kdump-compressed format needs a seekable, writable stream"));
    }

    [Test]
    public void Cancellation_stops_the_writer()
    {
        using FakeDumpReader source = Source();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => KdumpCompressedWriter.Write(source, new MemoryStream(), null, cancelled.Token));
    }
}
