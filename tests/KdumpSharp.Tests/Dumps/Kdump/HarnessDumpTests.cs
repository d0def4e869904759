using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Dumps.Kdump;

/// <summary>
/// Real dumps from the VM harness, cached outside the repository (KDS_CACHE, by default
/// /var/cache/kdumpsharp-test/dumps/&lt;release&gt;-&lt;key&gt;/): one crash captured as vmcore.elf and
/// passed through Debian's makedumpfile as -d 0 (vmcore.kdump-raw), -c -d 31 (vmcore.kdump-zlib),
/// -l -d 31 (vmcore.kdump-lzo) and -F -c -d 31 (vmcore.flat). Ignored where the cache is empty.
/// </summary>
[Category("Peer")]
public sealed class HarnessDumpTests
{
    public static IEnumerable<TestCaseData> Dumps()
    {
        string cache = Path.Combine(Environment.GetEnvironmentVariable("KDS_CACHE") ?? "/var/cache/kdumpsharp-test", "dumps");
        string[] dirs = Directory.Exists(cache)
            ? [.. Directory.GetDirectories(cache).Where(d => File.Exists(Path.Combine(d, "manifest.json")) && File.Exists(Path.Combine(d, "vmcore.kdump-raw"))).Order()]
            : [];
        if (dirs.Length == 0)
            yield return new TestCaseData("").Ignore($"no VM-harness dumps under {cache}");
        foreach (string dir in dirs)
            yield return new TestCaseData(dir).SetArgDisplayNames(Path.GetFileName(dir));
    }

    private static KdumpCompressedReader Open(string path)
    {
        var file = new MappedFileSource(path);
        DumpSource source = FlattenedSource.HasSignature(file) ? FlattenedSource.Open(file, DumpLimits.Default) : file;
        return KdumpCompressedReader.Open(source, DumpLimits.Default);
    }

    /// <summary>Every page makedumpfile kept at -d 31 is the page it wrote at -d 0, and every page it
    /// dropped reads as excluded, whether zlib, lzo or a flattened stream read in place.</summary>
    [TestCaseSource(nameof(Dumps))]
    public void Filtered_files_hold_the_same_pages_as_the_unfiltered_one(string dir)
    {
        using KdumpCompressedReader raw = Open(Path.Combine(dir, "vmcore.kdump-raw"));
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
            using KdumpCompressedReader filtered = Open(Path.Combine(dir, name));
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
    [TestCaseSource(nameof(Dumps))]
    public void Rewriting_the_unfiltered_file_reproduces_makedumpfiles_bytes(string dir)
    {
        string original = Path.Combine(dir, "vmcore.kdump-raw");
        using KdumpCompressedReader raw = Open(original);
        using var output = new MemoryStream();
        KdumpCompressedWriter.Write(raw, output, new KdumpWriterOptions { Compression = PageCompression.None });
        byte[] expected = File.ReadAllBytes(original);
        int same = output.GetBuffer().AsSpan(0, (int)output.Length).CommonPrefixLength(expected);
        Assert.That((output.Length, same), Is.EqualTo((expected.LongLength, expected.Length)), $"first difference at 0x{same:x}");
    }

    /// <summary>makedumpfile reads the log out of what the writer produced exactly as out of the vmcore.</summary>
    [TestCaseSource(nameof(Dumps))]
    public void Makedumpfile_dumps_the_same_dmesg_from_the_written_file(string dir)
    {
        string makedumpfile = PeerTools.Require("makedumpfile");
        string reference = Path.Combine(dir, "dmesg.makedumpfile.txt");
        if (!File.Exists(reference))
            Assert.Ignore($"no {reference}");
        string work = Directory.CreateTempSubdirectory("kds-harness-").FullName;
        try
        {
            foreach (PageCompression kind in new[] { PageCompression.Zlib, PageCompression.Lzo })
            {
                string written = Path.Combine(work, $"{kind}.kdump"), dmesg = Path.Combine(work, $"{kind}.txt");
                using (KdumpCompressedReader source = Open(Path.Combine(dir, "vmcore.kdump-zlib")))
                using (FileStream output = File.Create(written))
                    KdumpCompressedWriter.Write(source, output, new KdumpWriterOptions { Compression = kind });
                (int exitCode, string log) = PeerTools.Run($"'{makedumpfile}' --dump-dmesg '{written}' '{dmesg}'");
                Assert.That(exitCode, Is.Zero, log);
                Assert.That(File.ReadAllBytes(dmesg), Is.EqualTo(File.ReadAllBytes(reference)), kind.ToString());
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
