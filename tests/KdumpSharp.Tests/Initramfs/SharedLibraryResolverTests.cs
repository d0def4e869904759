using System.Buffers.Binary;
using System.Text.RegularExpressions;
using KdumpSharp.Initramfs;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Initramfs;

public sealed class SharedLibraryResolverTests
{
    private const string Interp = "/lib64/ld-linux-x86-64.so.2";

    /// <summary>
    /// ldd runs the real loader, so on this Debian host it is the oracle: every "name => path"
    /// it prints must be a library we resolve to the same path, and nothing more.
    /// </summary>
    [TestCase("/bin/ls")]
    [TestCase("/bin/bash")]
    [TestCase("/usr/bin/python3")]
    public void MatchesLddOnThisHost(string executable)
    {
        HostCommand.Result ldd = HostCommand.RunChecked("ldd", [executable]);
        var expected = Regex.Matches(ldd.Text, @"^\s+(\S+) => (\S+) \(", RegexOptions.Multiline)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value))
            .Order()
            .ToList();

        ExecutableDependencies resolved = new SharedLibraryResolver().Resolve(executable);

        Assert.That(resolved.Libraries.Select(l => (l.Name, l.Path)).Order(), Is.EqualTo(expected));
        Assert.That(resolved.Interpreter!.Path, Is.EqualTo(Interp));
        Assert.That(ldd.Text, Does.Contain(Interp));
    }

    [Test]
    public void LsNeedsPcreThroughSelinux()
    {
        ExecutableDependencies resolved = new SharedLibraryResolver().Resolve("/bin/ls");

        SharedObject pcre = resolved.Libraries.Single(l => l.Name == "libpcre2-8.so.0");
        Assert.That(pcre.NeededBy, Is.EqualTo("/lib/x86_64-linux-gnu/libselinux.so.1"));
        Assert.That(File.Exists(pcre.HostPath), Is.True);
        Assert.That(new FileInfo(pcre.HostPath).LinkTarget, Is.Null, "HostPath has its symlinks followed");
        // libc.so.6 names ld-linux-x86-64.so.2 too; that is the interpreter, not a second copy.
        Assert.That(resolved.Libraries.Select(l => l.Name), Has.None.EqualTo("ld-linux-x86-64.so.2"));
        Assert.That(resolved.Files.Select(f => f.Path), Is.Unique);
    }

    [Test]
    public void AStaticExecutableNeedsNothing()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Type = 2, Static = true }.WriteTo(root["bin/busybox"]);

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/bin/busybox");

        Assert.That(resolved.Interpreter, Is.Null);
        Assert.That(resolved.Libraries, Is.Empty);
        Assert.That(resolved.Executable.HostPath, Is.EqualTo(root["bin/busybox"]));
    }

    /// <summary>
    /// app → liba.so.1 through RUNPATH $ORIGIN/../lib/app; liba → libb.so.2 through an
    /// ld.so.conf include, and → ld-linux-x86-64.so.2, the interpreter, reached via a symlink.
    /// </summary>
    [Test]
    public void FollowsRunpathOriginAndLdSoConfIncludes()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Type = 3, Interpreter = Interp, Needed = ["liba.so.1"], RunPath = "$ORIGIN/../lib/app" }.WriteTo(root["usr/bin/app"]);
        new DynamicElfBuilder { SoName = "ld-linux-x86-64.so.2" }.WriteTo(root["usr/lib/ld-real.so"]);
        Directory.CreateDirectory(root["lib64"]);
        File.CreateSymbolicLink(root["lib64/ld-linux-x86-64.so.2"], "../usr/lib/ld-real.so");
        new DynamicElfBuilder { SoName = "liba.so.1", Needed = ["libb.so.2", "ld-linux-x86-64.so.2"] }.WriteTo(root["usr/lib/app/liba.so.1"]);
        new DynamicElfBuilder { SoName = "libb.so.2" }.WriteTo(root["opt/lib/libb.so.2"]);
        Directory.CreateDirectory(root["etc/ld.so.conf.d"]);
        File.WriteAllText(root["etc/ld.so.conf"], "# comment\ninclude ld.so.conf.d/*.conf\n");
        File.WriteAllText(root["etc/ld.so.conf.d/opt.conf"], "/opt/lib  # trailing comment\n");

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/usr/bin/app");

        Assert.That(resolved.Interpreter, Is.EqualTo(new SharedObject(Interp, Interp, root["usr/lib/ld-real.so"], null)));
        Assert.That(resolved.Libraries, Is.EqualTo(new[]
        {
            new SharedObject("liba.so.1", "/usr/lib/app/liba.so.1", root["usr/lib/app/liba.so.1"], "/usr/bin/app"),
            new SharedObject("libb.so.2", "/opt/lib/libb.so.2", root["opt/lib/libb.so.2"], "/usr/lib/app/liba.so.1"),
        }));
    }

    [Test]
    public void AnAbsoluteSymlinkStaysInsideTheRoot()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Type = 3, Interpreter = "/lib/ld.so", Needed = ["libz.so.1"] }.WriteTo(root["bin/app"]);
        new DynamicElfBuilder().WriteTo(root["lib/ld.so"]);
        new DynamicElfBuilder { SoName = "libz.so.1" }.WriteTo(root["usr/lib/libz.so.1.2.13"]);
        Directory.CreateDirectory(root["lib/x86_64-linux-gnu"]);
        File.CreateSymbolicLink(root["lib/x86_64-linux-gnu/libz.so.1"], "/usr/lib/libz.so.1.2.13");

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/bin/app");

        SharedObject libz = resolved.Libraries.Single();
        Assert.That(libz.Path, Is.EqualTo("/lib/x86_64-linux-gnu/libz.so.1"));
        Assert.That(libz.HostPath, Is.EqualTo(root["usr/lib/libz.so.1.2.13"]));
    }

    [Test]
    public void TwoNamesForOneFileAreBothPlacedButWalkedOnce()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Needed = ["libx.so.1", "liby.so.1"] }.WriteTo(root["bin/app"]);
        new DynamicElfBuilder { Needed = ["libdep.so"] }.WriteTo(root["usr/lib/libx.so.1"]);
        File.CreateSymbolicLink(root["usr/lib/liby.so.1"], "libx.so.1");
        new DynamicElfBuilder().WriteTo(root["usr/lib/libdep.so"]);

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/bin/app");

        Assert.That(resolved.Libraries.Select(l => (l.Path, l.HostPath)), Is.EqualTo(new[]
        {
            ("/usr/lib/libx.so.1", root["usr/lib/libx.so.1"]),
            ("/usr/lib/liby.so.1", root["usr/lib/libx.so.1"]),
            ("/usr/lib/libdep.so", root["usr/lib/libdep.so"]),
        }));
    }

    [Test]
    public void SkipsALibraryForAnotherMachine()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Needed = ["libb.so.2"] }.WriteTo(root["bin/app"]);
        new DynamicElfBuilder { Machine = DynamicElfBuilder.MachineAarch64 }.WriteTo(root["lib/x86_64-linux-gnu/libb.so.2"]);
        new DynamicElfBuilder().WriteTo(root["usr/lib/libb.so.2"]);

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/bin/app");

        Assert.That(resolved.Libraries.Single().Path, Is.EqualTo("/usr/lib/libb.so.2"));
    }

    [Test]
    public void RpathOfTheLoaderChainIsSearched()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Needed = ["liba.so"], RPath = "/custom" }.WriteTo(root["bin/app"]);
        new DynamicElfBuilder { Needed = ["libc2.so"] }.WriteTo(root["usr/lib/liba.so"]);
        new DynamicElfBuilder().WriteTo(root["custom/libc2.so"]);

        ExecutableDependencies resolved = new SharedLibraryResolver(root.Path).Resolve("/bin/app");

        Assert.That(resolved.Libraries.Select(l => l.Path), Is.EqualTo(new[] { "/usr/lib/liba.so", "/custom/libc2.so" }));
    }

    [Test]
    public void RunpathDisablesTheRpathOfTheLoaders()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Needed = ["liba.so"], RPath = "/custom" }.WriteTo(root["bin/app"]);
        new DynamicElfBuilder { Needed = ["libc2.so"], RunPath = "/elsewhere" }.WriteTo(root["usr/lib/liba.so"]);
        new DynamicElfBuilder().WriteTo(root["custom/libc2.so"]);

        var e = Assert.Throws<SharedLibraryNotFoundException>(() => new SharedLibraryResolver(root.Path).Resolve("/bin/app"));

        Assert.That(e!.Library, Is.EqualTo("libc2.so"));
        Assert.That(e.NeededBy, Is.EqualTo("/usr/lib/liba.so"));
        Assert.That(e.SearchedDirectories, Is.EqualTo(new[] { "/elsewhere" }.Concat(SharedLibraryResolver.DefaultSearchDirectories)));
        Assert.That(e.Message, Does.StartWith("/usr/lib/liba.so: needs libc2.so, found in none of: /elsewhere, /lib/x86_64-linux-gnu,"));
    }

    [Test]
    public void AMissingExecutableIsFileNotFound()
    {
        using var root = new TempDirectory();

        Assert.Throws<FileNotFoundException>(() => new SharedLibraryResolver(root.Path).Resolve("/bin/none"));
    }

    [Test]
    public void ASymlinkLoopIsReported()
    {
        using var root = new TempDirectory();
        Directory.CreateDirectory(root["bin"]);
        File.CreateSymbolicLink(root["bin/a"], "b");
        File.CreateSymbolicLink(root["bin/b"], "a");

        var e = Assert.Throws<IOException>(() => new SharedLibraryResolver(root.Path).Resolve("/bin/a"));
        Assert.That(e!.Message, Does.Contain("more than 40 symlinks"));
    }

    private static ExecutableFormatException ReadCorrupt(Action<byte[], DynamicElfBuilder.Layout> corrupt)
    {
        using var root = new TempDirectory();
        DynamicElfBuilder.Layout layout = new DynamicElfBuilder { Interpreter = Interp, Needed = ["libc.so.6"] }.BuildWithLayout();
        byte[] bytes = layout.Bytes;
        corrupt(bytes, layout);
        Directory.CreateDirectory(root["bin"]);
        File.WriteAllBytes(root["bin/bad"], bytes);
        var e = Assert.Throws<ExecutableFormatException>(() => new SharedLibraryResolver(root.Path).Resolve("/bin/bad"));
        Assert.That(e!.Path, Is.EqualTo(root["bin/bad"]));
        return e;
    }

    [Test]
    public void NotElf()
    {
        var e = ReadCorrupt((b, _) => b[0] = (byte)'#');
        Assert.That(e.Problem, Is.EqualTo("not an ELF file (no \\x7fELF magic)"));
        Assert.That(e.Offset, Is.Zero);
    }

    [Test]
    public void TruncatedHeader()
    {
        using var root = new TempDirectory();
        Directory.CreateDirectory(root["bin"]);
        File.WriteAllBytes(root["bin/bad"], new DynamicElfBuilder().Build()[..40]);

        var e = Assert.Throws<ExecutableFormatException>(() => new SharedLibraryResolver(root.Path).Resolve("/bin/bad"));
        Assert.That(e!.Problem, Is.EqualTo("truncated ELF header: the file has 40 bytes, the header needs 64"));
    }

    [Test]
    public void Elf32IsRefusedByName()
    {
        var e = ReadCorrupt((b, _) => b[4] = 1);
        Assert.That(e.Problem, Does.StartWith("ELF class 1 is not ELFCLASS64"));
        Assert.That(e.Offset, Is.EqualTo(4));
    }

    [Test]
    public void BigEndianIsRefused()
    {
        var e = ReadCorrupt((b, _) => b[5] = 2);
        Assert.That(e.Problem, Is.EqualTo("ELF data encoding 2 is not little-endian"));
    }

    [Test]
    public void ARelocatableObjectIsNotAnExecutable()
    {
        var e = ReadCorrupt((b, _) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(16), 1));
        Assert.That(e.Problem, Does.StartWith("e_type 1 is neither ET_EXEC nor ET_DYN"));
    }

    [Test]
    public void ProgramHeadersPastTheEnd()
    {
        var e = ReadCorrupt((b, _) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), 0x10000));
        Assert.That(e.Problem, Does.Match(@"^program header table \(168 bytes at 0x10000\) extends past the end of the \d+-byte file$"));
    }

    [Test]
    public void WrongProgramHeaderEntrySize()
    {
        var e = ReadCorrupt((b, _) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(54), 32));
        Assert.That(e.Problem, Is.EqualTo("e_phentsize is 32, Elf64_Phdr is 56 bytes"));
    }

    [Test]
    public void InterpreterWithoutNul()
    {
        // The interpreter string sits right after the three program headers; overwrite its NUL.
        var e = ReadCorrupt((b, l) => b[l.ProgramHeaders + 3 * 56 + Interp.Length] = (byte)'x');
        Assert.That(e.Problem, Is.EqualTo("PT_INTERP is not NUL-terminated"));
    }

    [Test]
    public void NeededOffsetOutsideTheStringTable()
    {
        var e = ReadCorrupt((b, l) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l.Dynamic + 8), 0x7777));
        Assert.That(e.Problem, Does.Match(@"^DT_NEEDED string offset 30583 is outside the \d+-byte string table$"));
    }

    [Test]
    public void StringTableOutsideEveryLoadSegment()
    {
        // DT_STRTAB is the entry after the one DT_NEEDED.
        var e = ReadCorrupt((b, l) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l.Dynamic + 16 + 8), 0x900000));
        Assert.That(e.Problem, Is.EqualTo("DT_STRTAB 0x900000 is in no PT_LOAD segment's file bytes"));
    }

    [Test]
    public void TooManyProgramHeadersForTheLimits()
    {
        using var root = new TempDirectory();
        new DynamicElfBuilder { Interpreter = Interp }.WriteTo(root["bin/app"]);
        var limits = new InitramfsLimits { MaxProgramHeaders = 1 };

        var e = Assert.Throws<ExecutableFormatException>(() => new SharedLibraryResolver(root.Path, limits: limits).Resolve("/bin/app"));
        Assert.That(e!.Problem, Is.EqualTo("3 program headers exceed the limit of 1"));
    }
}
