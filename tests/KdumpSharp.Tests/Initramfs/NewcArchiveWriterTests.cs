using System.Runtime.Versioning;
using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Initramfs;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Initramfs;

/// <summary>Checked against Debian's cpio and zcat, so Linux only.</summary>
[SupportedOSPlatform("linux")]
public sealed class NewcArchiveWriterTests
{
    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly byte[] InitScript = Encoding.ASCII.GetBytes("#!/bin/sh\necho hello\n");

    /// <summary>A small tree with one entry of each kind, some parents implicit.</summary>
    private static byte[] BuildSample(InitramfsCompression compression = InitramfsCompression.None, uint mtime = 0)
    {
        var output = new MemoryStream();
        using (var writer = new NewcArchiveWriter(output, compression, leaveOpen: true, mtime))
        {
            writer.AddDirectory("etc");
            writer.AddFile("/etc/hostname", "guest\n"u8, Mode0644);
            writer.AddFile("init", InitScript, Mode0755);
            writer.AddSymlink("bin/sh", "busybox");
            writer.AddCharacterDevice("dev/console", Mode0600, 5, 1);
            writer.AddBlockDevice("dev/vda", Mode0600, 254, 0);
            byte[] big = new byte[70_001];
            new Random(7).NextBytes(big);
            writer.AddFile("usr/lib/blob", new MemoryStream(big), big.Length, Mode0644);
        }
        return output.ToArray();
    }

    [Test]
    public void CpioListsEveryEntryWithTypeModeAndParentsFirst()
    {
        HostCommand.Result listing = HostCommand.RunChecked("cpio", ["-itv", "--quiet"], BuildSample());

        var lines = listing.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var entries = lines.Select(l => (Mode: l[..10], Name: Regex.Match(l, @"\s\d{1,2}\s+\d{4} (.+)$").Groups[1].Value)).ToList();
        Assert.That(entries, Is.EqualTo(new[]
        {
            ("drwxr-xr-x", "etc"),
            ("-rw-r--r--", "etc/hostname"),
            ("-rwxr-xr-x", "init"),
            ("drwxr-xr-x", "bin"),
            ("lrwxrwxrwx", "bin/sh -> busybox"),
            ("drwxr-xr-x", "dev"),
            ("crw-------", "dev/console"),
            ("brw-------", "dev/vda"),
            ("drwxr-xr-x", "usr"),
            ("drwxr-xr-x", "usr/lib"),
            ("-rw-r--r--", "usr/lib/blob"),
        }));
        Assert.That(lines.Single(l => l.EndsWith("dev/console")), Does.Contain("5,   1"));
        Assert.That(lines.Single(l => l.EndsWith("dev/vda")), Does.Contain("254,   0"));
    }

    [Test]
    public void CpioExtractsTheSameBytesAndPermissions()
    {
        using var dir = new TempDirectory();
        byte[] archive = BuildSample();
        // Device nodes are left out of extraction: they need no checking beyond the listing.
        HostCommand.RunChecked("cpio", ["-idm", "--quiet", "--no-absolute-filenames", "etc/*", "init", "bin/*", "usr/*"], archive, dir.Path);

        Assert.That(File.ReadAllText(dir["etc/hostname"]), Is.EqualTo("guest\n"));
        Assert.That(File.ReadAllBytes(dir["init"]), Is.EqualTo(InitScript));
        Assert.That(File.GetUnixFileMode(dir["init"]), Is.EqualTo(Mode0755));
        Assert.That(new FileInfo(dir["bin/sh"]).LinkTarget, Is.EqualTo("busybox"));
        byte[] expected = new byte[70_001];
        new Random(7).NextBytes(expected);
        Assert.That(File.ReadAllBytes(dir["usr/lib/blob"]), Is.EqualTo(expected));
    }

    [Test]
    public void FirstHeaderIsExactNewc()
    {
        byte[] archive = BuildSample(mtime: 1_700_000_000);

        // "etc": inode 1, S_IFDIR|0755, uid 0, gid 0, 2 links, mtime 0x6553F100, no data,
        // devices 0, name size 4 ("etc" and its NUL), check 0; 110 + 4 bytes padded to 116.
        string header = Encoding.ASCII.GetString(archive, 0, 110);
        Assert.That(header, Is.EqualTo(
            "070701" + "00000001" + "000041ED" + "00000000" + "00000000" + "00000002" + "6553F100" +
            "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000"));
        Assert.That(archive.AsSpan(110, 6).ToArray(), Is.EqualTo("etc\0\0\0"u8.ToArray()));
        Assert.That(Encoding.ASCII.GetString(archive, 116, 6), Is.EqualTo("070701"));
    }

    [Test]
    public void EndsWithTrailerPaddedToWholeBlocks()
    {
        byte[] archive = BuildSample();

        Assert.That(archive.Length % 512, Is.Zero);
        string text = Encoding.ASCII.GetString(archive);
        int trailer = text.LastIndexOf("070701", StringComparison.Ordinal);
        Assert.That(text.Substring(trailer + 110, 11), Is.EqualTo("TRAILER!!!\0"));
        Assert.That(archive.AsSpan(trailer + 110 + 11).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
    }

    [Test]
    public void SameInputsGiveTheSameBytes()
    {
        Assert.That(BuildSample(InitramfsCompression.Gzip), Is.EqualTo(BuildSample(InitramfsCompression.Gzip)));
    }

    [Test]
    public void GzipOutputIsTheSameArchiveCompressed()
    {
        byte[] compressed = BuildSample(InitramfsCompression.Gzip);

        Assert.That(compressed.AsSpan(0, 2).ToArray(), Is.EqualTo(new byte[] { 0x1f, 0x8b }));
        HostCommand.Result unpacked = HostCommand.RunChecked("zcat", [], compressed);
        Assert.That(unpacked.StandardOutput, Is.EqualTo(BuildSample()));
        Assert.That(compressed.Length, Is.LessThan(BuildSample().Length));
    }

    [Test]
    public void LeaveOpenFalseDisposesTheOutput()
    {
        var output = new MemoryStream();
        new NewcArchiveWriter(output, InitramfsCompression.Gzip).Dispose();

        Assert.That(output.CanWrite, Is.False);
    }

    [Test]
    public void CountsEntriesAndUncompressedBytes()
    {
        var output = new MemoryStream();
        using var writer = new NewcArchiveWriter(output, leaveOpen: true);
        writer.AddFile("a/b", "xyz"u8, Mode0644);

        Assert.That(writer.EntryCount, Is.EqualTo(2));
        Assert.That(writer.Contains("/a"), Is.True);
        Assert.That(writer.Contains("a/b"), Is.True);
        // "a": 110 + 2 → 112; "a/b": 110 + 4 → 116, plus 3 data bytes padded to 4.
        Assert.That(writer.UncompressedLength, Is.EqualTo(112 + 116 + 4));
    }

    [TestCase("etc/../x", TestName = "DotDot")]
    [TestCase("a//b", TestName = "EmptyComponent")]
    [TestCase("./a", TestName = "Dot")]
    [TestCase("/", TestName = "Root")]
    public void RefusesUnsafeNames(string path)
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());

        var e = Assert.Throws<ArgumentException>(() => writer.AddFile(path, "x"u8, Mode0644));
        Assert.That(e!.Message, Does.Contain(path));
    }

    [Test]
    public void RefusesADuplicatePath()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());
        writer.AddFile("bin/x", "1"u8, Mode0755);

        var e = Assert.Throws<ArgumentException>(() => writer.AddSymlink("/bin/x", "y"));
        Assert.That(e!.Message, Does.StartWith("'bin/x' is already in the archive"));
    }

    [Test]
    public void RefusesAnEntryBelowAFile()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());
        writer.AddFile("init", InitScript, Mode0755);

        var e = Assert.Throws<ArgumentException>(() => writer.AddDirectory("init/sub"));
        Assert.That(e!.Message, Does.Contain("'init', which is not a directory"));
    }

    [Test]
    public void RefusesFileTypeBitsInTheMode()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());

        Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddFile("x", "1"u8, (UnixFileMode)0x81A4));
    }

    [Test]
    public void RefusesFilesNewcCannotSize()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddFile("huge", Stream.Null, 1L << 32, Mode0644));
        Assert.That(e!.Message, Does.Contain("32 bits"));
    }

    [Test]
    public void AShortContentStreamIsAnError()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());

        var e = Assert.Throws<EndOfStreamException>(() => writer.AddFile("f", new MemoryStream(new byte[10]), 11, Mode0644));
        Assert.That(e!.Message, Is.EqualTo("'f': the content stream ended after 10 of 11 bytes"));
    }

    [Test]
    public void NothingCanBeAddedAfterFinish()
    {
        using var writer = new NewcArchiveWriter(new MemoryStream());
        writer.Finish();
        writer.Finish();

        Assert.Throws<InvalidOperationException>(() => writer.AddDirectory("late"));
    }

    [Test]
    public void CopiesAHostFileWithItsMode()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["tool"], InitScript);
        File.SetUnixFileMode(dir["tool"], Mode0755);
        var output = new MemoryStream();
        using (var writer = new NewcArchiveWriter(output, leaveOpen: true))
            writer.AddFileFromHost("usr/sbin/tool", dir["tool"]);

        HostCommand.Result listing = HostCommand.RunChecked("cpio", ["-itv", "--quiet"], output.ToArray());
        Assert.That(listing.Text, Does.Match(@"-rwxr-xr-x .* 21 .*usr/sbin/tool\n"));
    }
}
