using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Memory;

using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Analyzer;

/// <summary>
/// The kdump-compressed reader and writer against makedumpfile's own files from the VM harness:
/// one crash passed through Debian's makedumpfile as -d 0, -c -d 31, -l -d 31 and -F -c -d 31.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class MakedumpfileFilesTests(TestKernel kernel)
{
    private string _dir = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps() => _dir = TestDumps.Get(kernel).Directory;

    private static KdumpCompressedReader Open(string path)
    {
        var file = new MappedFileSource(path);
        DumpSource source = FlattenedSource.HasSignature(file) ? FlattenedSource.Open(file, DumpLimits.Default) : file;
        return KdumpCompressedReader.Open(source, DumpLimits.Default);
    }

    /// <summary>Every page makedumpfile kept at -d 31 is the page it wrote at -d 0, and every page it
    /// dropped reads as excluded, whether zlib, lzo or a flattened stream read in place.</summary>
    [Test]
    public void Filtered_files_hold_the_same_pages_as_the_unfiltered_one()
    {
        using KdumpCompressedReader raw = Open(Path.Combine(_dir, "vmcore.kdump-raw"));
        Assert.That(raw.Properties.DumpLevel, Is.Zero);
        Assert.That(raw.UtsName.Release, Is.EqualTo(raw.Vmcoreinfo!.OsRelease));
        var expected = new byte[PageFrameNumber.PageSize];
        var actual = new byte[PageFrameNumber.PageSize];
        foreach ((string name, string compression, DumpFormat format) in new[]
        {
            ("vmcore.kdump-zlib", "zlib", DumpFormat.KdumpCompressed),
            ("vmcore.kdump-lzo", "lzo", DumpFormat.KdumpCompressed),
            ("vmcore.flat", "zlib", DumpFormat.Flattened),
        })
        {
            using KdumpCompressedReader filtered = Open(Path.Combine(_dir, name));
            Assert.That((filtered.Properties.Format, filtered.Properties.Compression, filtered.Properties.DumpLevel, filtered.Properties.IsIncomplete),
                Is.EqualTo((format, compression, 31, false)), name);
            Assert.That(filtered.UtsName, Is.EqualTo(raw.UtsName), name);
            Assert.That(filtered.Memory.Ranges, Is.EqualTo(raw.Memory.Ranges), name);
            int present = 0, excluded = 0;
            foreach (PhysicalRange range in raw.Memory.Ranges)
                for (ulong pfn = range.Start.Frame.Value; pfn < range.End.Frame.Value; pfn++)
                {
                    Assert.That(raw.Memory.ReadPage(new PageFrameNumber(pfn), expected), Is.EqualTo(PageState.Present));
                    PageState state = filtered.Memory.ReadPage(new PageFrameNumber(pfn), actual);
                    if (state == PageState.Present && actual.AsSpan().SequenceEqual(expected))
                        present++;
                    else if (state == PageState.Excluded)
                        excluded++;
                    else
                        Assert.Fail($"{name}: pfn 0x{pfn:x} is {state}{(state == PageState.Present ? " with other bytes" : "")}");
                }
            Assert.That(present, Is.GreaterThan(excluded / 10), $"{name}: {present} present, {excluded} excluded");
        }
    }

    /// <summary>Rewriting makedumpfile's -d 0 output uncompressed gives back its exact bytes.</summary>
    [Test]
    public void Rewriting_the_unfiltered_file_reproduces_makedumpfiles_bytes()
    {
        string original = Path.Combine(_dir, "vmcore.kdump-raw");
        using KdumpCompressedReader raw = Open(original);
        using var output = new MemoryStream();
        KdumpCompressedWriter.Write(raw, output, new KdumpWriterOptions { Compression = PageCompression.None });
        byte[] expected = File.ReadAllBytes(original);
        int same = output.GetBuffer().AsSpan(0, (int)output.Length).CommonPrefixLength(expected);
        Assert.That((output.Length, same), Is.EqualTo((expected.LongLength, expected.Length)), $"first difference at 0x{same:x}");
    }

    /// <summary>makedumpfile reads the log out of what the writer produced exactly as out of the vmcore.</summary>
    [Test]
    public void Makedumpfile_dumps_the_same_dmesg_from_the_written_file()
    {
        string reference = Path.Combine(_dir, "dmesg.makedumpfile.txt");
        string work = Directory.CreateTempSubdirectory("kds-harness-").FullName;
        try
        {
            foreach (PageCompression kind in new[] { PageCompression.Zlib, PageCompression.Lzo })
            {
                string written = Path.Combine(work, $"{kind}.kdump"), dmesg = Path.Combine(work, $"{kind}.txt");
                using (KdumpCompressedReader source = Open(Path.Combine(_dir, "vmcore.kdump-zlib")))
                using (FileStream output = File.Create(written))
                    KdumpCompressedWriter.Write(source, output, new KdumpWriterOptions { Compression = kind });
                HostProcess.Result run = HostProcess.Run("/usr/bin/makedumpfile", ["--dump-dmesg", written, dmesg], work, TimeSpan.FromMinutes(2));
                Assert.That(run.ExitCode, Is.Zero, run.Output);
                Assert.That(File.ReadAllBytes(dmesg), Is.EqualTo(File.ReadAllBytes(reference)), kind.ToString());
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
