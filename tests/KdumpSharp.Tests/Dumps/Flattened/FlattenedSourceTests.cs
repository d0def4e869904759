using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Dumps.Kdump;

namespace KdumpSharp.Tests.Dumps.Flattened;

public sealed class FlattenedSourceTests
{
    private static readonly Random Shuffle = new(5);

    private static FlattenedSource Open(byte[] stream, DumpLimits? limits = null) =>
        FlattenedSource.Open(new MemorySource("test.flat", stream), limits ?? DumpLimits.Default);

    private static byte[] ReadAll(DumpSource source)
    {
        var bytes = new byte[source.Length];
        Assert.That(source.ReadAt(0, bytes), Is.EqualTo(bytes.Length));
        return bytes;
    }

    [Test]
    public void Records_in_order_read_as_the_plain_file()
    {
        KdumpImage image = KdumpTestSupport.Typical().Build();
        byte[] stream = new FlattenedStreamBuilder().AddChunks(image.Bytes, [464, 4096 - 464, 65536, 24 * 7, 10_000]).End().ToArray();

        using FlattenedSource flat = Open(stream);
        Assert.That(flat.Name, Is.EqualTo("test.flat"));
        Assert.That(flat.IsIncomplete, Is.False);
        Assert.That(flat.IncompleteReason, Is.Null);
        Assert.That(ReadAll(flat), Is.EqualTo(image.Bytes));
    }

    [Test]
    public void The_kdump_reader_on_a_flattened_stream_reads_what_it_reads_from_the_plain_file()
    {
        KdumpImage image = KdumpTestSupport.Typical().Build();
        byte[] stream = new FlattenedStreamBuilder()
            .AddChunks(image.Bytes, [4096, 777, 65536], chunks => chunks.OrderBy(_ => Shuffle.Next()))
            .End().ToArray();

        using KdumpCompressedReader plain = KdumpTestSupport.Open(image);
        using KdumpCompressedReader reader = KdumpCompressedReader.Open(Open(stream), DumpLimits.Default);

        Assert.That(reader.Properties, Is.EqualTo(plain.Properties with { Format = DumpFormat.Flattened, InnerFormat = DumpFormat.KdumpCompressed }));
        Assert.That(reader.UtsName, Is.EqualTo(plain.UtsName));
        Assert.That(reader.Vmcoreinfo!.Text, Is.EqualTo(plain.Vmcoreinfo!.Text));
        Assert.That(reader.Memory.Ranges, Is.EqualTo(plain.Memory.Ranges));
        for (ulong pfn = 0; pfn < 170; pfn++)
        {
            byte[] expected = KdumpTestSupport.Read(plain.Memory, pfn, out PageState expectedState);
            byte[] actual = KdumpTestSupport.Read(reader.Memory, pfn, out PageState state);
            Assert.That(state, Is.EqualTo(expectedState), $"pfn {pfn}");
            Assert.That(actual, Is.EqualTo(expected), $"pfn {pfn}");
        }
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void Overlapping_out_of_order_records_read_as_seek_and_write_would_leave_them(int seed)
    {
        var random = new Random(seed);
        var builder = new FlattenedStreamBuilder();
        for (int i = 0; i < 60; i++)
        {
            var data = new byte[random.Next(1, 300)];
            random.NextBytes(data);
            builder.Add(random.Next(0, 2000), data);
        }
        builder.Add(5000, [1, 2, 3]).End();
        byte[] expected = FlattenedStreamBuilder.Reassemble(builder.Records);

        using FlattenedSource flat = Open(builder.ToArray());
        Assert.That(flat.Length, Is.EqualTo(expected.Length));
        Assert.That(flat.RecordCount, Is.EqualTo(61));
        Assert.That(ReadAll(flat), Is.EqualTo(expected));
        for (int i = 0; i < 200; i++)
        {
            int offset = random.Next(0, expected.Length + 10);
            var window = new byte[random.Next(0, 400)];
            int n = flat.ReadAt(offset, window);
            int available = Math.Clamp(expected.Length - offset, 0, window.Length);
            Assert.That(n, Is.EqualTo(available));
            Assert.That(window[..n], Is.EqualTo(expected.AsSpan(offset, n).ToArray()));
        }
    }

    [Test]
    public void A_later_record_wins_inside_an_earlier_one_and_gaps_read_as_zero()
    {
        byte[] stream = new FlattenedStreamBuilder()
            .Add(100, [.. Enumerable.Repeat((byte)'a', 50)])
            .Add(120, [.. Enumerable.Repeat((byte)'b', 10)])
            .Add(90, [.. Enumerable.Repeat((byte)'c', 15)])
            .Add(200, [(byte)'d'])
            .End().ToArray();
        using FlattenedSource flat = Open(stream);

        byte[] all = ReadAll(flat);
        Assert.That(all.Length, Is.EqualTo(201));
        Assert.That(all[..90], Is.All.Zero);
        Assert.That(System.Text.Encoding.ASCII.GetString(all[90..150]),
            Is.EqualTo(new string('c', 15) + new string('a', 15) + new string('b', 10) + new string('a', 20)));
        Assert.That(all[150..200], Is.All.Zero);
        Assert.That(all[200], Is.EqualTo((byte)'d'));
    }

    [Test]
    public void Zero_size_records_are_skipped()
    {
        byte[] stream = new FlattenedStreamBuilder().Add(10, []).Add(0, [7]).End().ToArray();
        using FlattenedSource flat = Open(stream);
        Assert.That(ReadAll(flat), Is.EqualTo(new byte[] { 7 }));
    }

    [Test]
    public void A_stream_without_its_end_marker_opens_with_what_is_there()
    {
        byte[] stream = new FlattenedStreamBuilder().Add(0, [1, 2, 3]).Add(3, [4, 5]).ToArray();
        using FlattenedSource flat = Open(stream);
        Assert.That(flat.IsIncomplete, Is.True);
        Assert.That(flat.IncompleteReason, Is.EqualTo($"the flattened stream ends at 0x{stream.Length:x} without its end marker"));
        Assert.That(ReadAll(flat), Is.EqualTo(new byte[] { 1, 2, 3, 4, 5 }));
    }

    [Test]
    public void A_stream_cut_inside_a_record_keeps_the_part_of_it_that_arrived()
    {
        byte[] stream = new FlattenedStreamBuilder().Add(0, [1, 2, 3]).Add(10, [4, 5, 6, 7]).ToArray();
        using FlattenedSource flat = Open(stream[..^2]);
        Assert.That(flat.IncompleteReason, Is.EqualTo("the flattened stream ends inside the record for offset 0xa (2 of 4 bytes)"));
        Assert.That(ReadAll(flat), Is.EqualTo(new byte[] { 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 5 }));
    }

    /// <summary>A transfer cut anywhere leaves a dump the kdump reader opens (once the metadata has
    /// arrived) and reads page by page, reporting both the stream and the file as incomplete.</summary>
    [Test]
    public void A_cut_stream_still_gives_every_page_that_arrived()
    {
        KdumpImage image = KdumpTestSupport.Typical().Build();
        byte[] stream = new FlattenedStreamBuilder().AddChunks(image.Bytes, [4096 * 4]).End().ToArray();
        byte[] cut = stream[..(stream.Length - 3 * 4096)];

        FlattenedSource flat = Open(cut);
        long arrived = flat.Length;
        using KdumpCompressedReader reader = KdumpCompressedReader.Open(flat, DumpLimits.Default);
        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Properties.IncompleteReason, Does.Contain("the flattened stream ends inside the record"));
        Assert.That(reader.Properties.IncompleteReason, Does.Contain("inside the page data"));
        Assert.That(arrived, Is.GreaterThan(image.DataOffset).And.LessThan(image.Bytes.Length));
        foreach ((ulong pfn, PagePlacement p) in image.Pages)
        {
            byte[] page = KdumpTestSupport.Read(reader.Memory, pfn, out PageState state);
            bool whole = p.DescriptorOffset + 24 <= arrived && p.DataOffset + p.Size <= arrived;
            Assert.That(state, Is.EqualTo(whole ? PageState.Present : PageState.Lost), $"pfn {pfn}");
            if (whole)
                Assert.That(page, Is.EqualTo(KdumpCompressedBuilder.Pattern(pfn)), $"pfn {pfn}");
        }
    }

    public static IEnumerable<TestCaseData> CorruptStreams()
    {
        yield return Case("type 2", new FlattenedStreamBuilder(type: 2).End(), "flattened header type is 2, expected 1", 16);
        yield return Case("version 2", new FlattenedStreamBuilder(version: 2).End(), "flattened header version is 2, expected 1", 24);
        yield return Case("negative size", new FlattenedStreamBuilder().Add(0, [1]).RecordHeader(5, -3).End(), "flattened record with offset 5 and size -3", 4096 + 17);
        yield return Case("negative offset", new FlattenedStreamBuilder().RecordHeader(-2, 1).Raw([0]).End(), "flattened record with offset -2 and size 1", 4096);
        yield return Case("offset and size overflowing", new FlattenedStreamBuilder().RecordHeader(long.MaxValue - 1, 2).End(), "flattened record with offset 9223372036854775806 and size 2", 4096);

        static TestCaseData Case(string name, FlattenedStreamBuilder b, string message, long offset) =>
            new TestCaseData(b.ToArray(), message, offset).SetName($"Corrupt flattened stream: {name}");
    }

    [TestCaseSource(nameof(CorruptStreams))]
    public void A_corrupt_stream_is_a_format_error_with_its_offset(byte[] stream, string message, long offset)
    {
        var e = Assert.Throws<DumpFormatException>(() => Open(stream));
        Assert.That(e!.Problem, Is.EqualTo(message));
        Assert.That(e.Offset, Is.EqualTo(offset));
    }

    [Test]
    public void More_records_than_the_limit_is_an_error()
    {
        byte[] stream = new FlattenedStreamBuilder().Add(0, [1]).Add(1, [2]).Add(2, [3]).Add(3, [4]).End().ToArray();
        Assert.That(Open(stream, DumpLimits.Default with { MaxFlattenedRecords = 4 }).RecordCount, Is.EqualTo(4));
        var e = Assert.Throws<DumpFormatException>(() => Open(stream, DumpLimits.Default with { MaxFlattenedRecords = 3 }));
        Assert.That(e!.Problem, Is.EqualTo("more than 3 flattened records"));
    }

    [Test]
    public void Another_signature_is_unrecognized()
    {
        byte[] kdump = KdumpTestSupport.Typical().Build().Bytes;
        Assert.Throws<UnrecognizedDumpException>(() => Open(kdump));
        Assert.That(FlattenedSource.HasSignature(new MemorySource("k", kdump)), Is.False);
        Assert.That(FlattenedSource.HasSignature(new MemorySource("f", new FlattenedStreamBuilder().End().ToArray())), Is.True);
        Assert.Throws<UnrecognizedDumpException>(() => Open(new FlattenedStreamBuilder(signature: "makedumpfilex").End().ToArray()));
    }

    [Test]
    public void The_source_disposes_the_stream_unless_asked_to_leave_it_open()
    {
        byte[] stream = new FlattenedStreamBuilder().Add(0, [1]).End().ToArray();
        var owned = new RecordingSource(new MemorySource("a", stream));
        FlattenedSource.Open(owned, DumpLimits.Default).Dispose();
        var kept = new RecordingSource(new MemorySource("b", stream));
        FlattenedSource.Open(kept, DumpLimits.Default, leaveOpen: true).Dispose();
        Assert.That((owned.Disposed, kept.Disposed), Is.EqualTo((true, false)));
    }

    /// <summary>makedumpfile -R (installed by scripts/setup.sh) rebuilds the same file from the same stream.</summary>
    [Test]
    [Category("Peer")]
    public void Makedumpfile_reassembles_the_same_bytes()
    {
        string makedumpfile = PeerTools.Require("makedumpfile");
        var random = new Random(11);
        var builder = new FlattenedStreamBuilder();
        for (int i = 0; i < 40; i++)
        {
            var data = new byte[random.Next(1, 5000)];
            random.NextBytes(data);
            builder.Add(random.Next(0, 30_000), data);
        }
        byte[] stream = builder.End().ToArray();
        string dir = Directory.CreateTempSubdirectory("kds-flat-").FullName;
        try
        {
            string input = Path.Combine(dir, "stream"), output = Path.Combine(dir, "rebuilt");
            File.WriteAllBytes(input, stream);
            (int exitCode, string log) = PeerTools.Run($"'{makedumpfile}' -R '{output}' < '{input}'");
            Assert.That(exitCode, Is.Zero, log);

            using FlattenedSource flat = Open(stream);
            Assert.That(ReadAll(flat), Is.EqualTo(File.ReadAllBytes(output)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
