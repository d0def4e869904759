using KdumpSharp.Capture;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Capture;

/// <summary>
/// kds-capture on a sparse ELF vmcore file: batches that lie in a hole are zero pages found by
/// lseek(SEEK_DATA) without reading, the data between them is read as usual, and every way of
/// reading (one thread, reading threads, --mmap) writes the same pages.
/// </summary>
public class SparseVmcoreCaptureTests
{
    private const int RamPages = 8192; // 32 MiB of RAM at 1 MiB, 32 batches
    private string _directory = null!;
    private string _vmcore = null!;
    private long _dataOffset;

    [SetUp]
    public void MakeSparseVmcore()
    {
        _directory = Directory.CreateTempSubdirectory("kds-sparse-").FullName;
        _vmcore = Path.Combine(_directory, "vmcore");
        byte[] head = new ElfCoreBuilder()
            .AddVmcoreinfo("OSRELEASE=6.1.0-sparse\nPAGESIZE=4096\n")
            .AddLoad(0x100000, new byte[4096], memorySize: RamPages * 4096UL)
            .Build();
        // The builder wrote one page of segment data; the segment's file size is all of RAM, as holes.
        _dataOffset = head.Length - 4096;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(ElfCoreBuilder.ProgramHeaderOffset(1) + 32), RamPages * 4096UL);
        using var file = new FileStream(_vmcore, FileMode.CreateNew);
        file.Write(head);
        file.SetLength(_dataOffset + RamPages * 4096L);
        // Data in batch 3 (pages 0x300..0x303) and the last page; everything else is a hole.
        foreach (long page in new long[] { 0x300, 0x301, 0x302, 0x303, RamPages - 1 })
        {
            file.Position = _dataOffset + page * 4096;
            file.Write(Enumerable.Range(0, 4096).Select(i => (byte)(i + page)).ToArray());
        }
    }

    [TearDown]
    public void Remove() => Directory.Delete(_directory, recursive: true);

    private string Capture(string host, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CaptureCli.Run(["-q", "-l", "1", "--host", host, "-d", Path.Combine(_directory, "out"), .. args, _vmcore], output, error);
        Assert.That(code, Is.Zero, error.ToString());
        return output.ToString().Trim();
    }

    [TestCase("1")]
    [TestCase("2")]
    [TestCase("2", "--mmap")]
    public void Holes_are_zero_pages_and_the_data_between_them_is_kept(params string[] threadsAndMore)
    {
        string dump = Capture($"sparse{threadsAndMore.Length}{threadsAndMore[0]}", ["-j", .. threadsAndMore]);

        using IDumpReader reader = DumpFile.Open(dump);
        Assert.That(reader.Properties.IsIncomplete, Is.False);
        byte[] page = new byte[4096];
        int stored = 0;
        for (ulong i = 0; i < RamPages; i++)
        {
            Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x100 + i), page), Is.EqualTo(PageState.Present), $"page {i}");
            bool data = i is >= 0x300 and <= 0x303 || i == RamPages - 1;
            if (data)
            {
                stored++;
                Assert.That(page, Is.EqualTo(Enumerable.Range(0, 4096).Select(b => (byte)(b + (long)i)).ToArray()), $"page {i}");
            }
            else
            {
                Assert.That(page.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1), $"page {i}");
            }
        }
        Assert.That(stored, Is.EqualTo(5));
        Assert.That(new FileInfo(dump).Length, Is.LessThan(256 << 10), "zero pages take no space");
    }

    [TestCase("zstd", "-3")]
    [TestCase("lz4", "8")]
    public void A_compression_level_changes_only_the_speed_and_size(string codec, string level)
    {
        string dump = Capture($"level{codec}", "-c", codec, "--compress-level", level);
        using IDumpReader reader = DumpFile.Open(dump);
        byte[] page = new byte[4096];
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x100 + 0x301), page), Is.EqualTo(PageState.Present));
        Assert.That(page, Is.EqualTo(Enumerable.Range(0, 4096).Select(b => (byte)(b + 0x301)).ToArray()));
    }

    [TestCase("lz4", "0", "between 1 and 65537")]
    [TestCase("zstd", "23", "between -131072 and 22")]
    [TestCase("none", "1", "needs --compress lz4 or zstd")]
    public void A_compression_level_the_codec_lacks_is_a_usage_error(string codec, string level, string message)
    {
        var error = new StringWriter();
        int code = CaptureCli.Run(["-q", "-c", codec, "--compress-level", level, "-d", Path.Combine(_directory, "out"), _vmcore], new StringWriter(), error);
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.ToString(), Does.StartWith("kds-capture: ").And.Contain(message));
    }

    [Test]
    public void Makedumpfile_format_takes_no_compression_level()
    {
        var error = new StringWriter();
        int code = CaptureCli.Run(["-q", "-f", "kdump", "-c", "zstd", "--compress-level", "3", "-d", Path.Combine(_directory, "out"), _vmcore], new StringWriter(), error);
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.ToString(), Does.Contain("--compress-level is for the kds format"));
    }
}
