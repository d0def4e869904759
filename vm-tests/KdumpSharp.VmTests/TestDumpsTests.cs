using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests;

/// <summary>
/// Boots each Debian kernel, crashes it and checks the dumps the harness made (or finds them
/// cached). The checks are the basics every later test relies on: each file exists, has its
/// format's magic and header fields, and the dmesg references show this crash.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class TestDumpsTests(TestKernel kernel)
{
    private const ushort ElfTypeCore = 4;     // ET_CORE
    private const ushort MachineX86_64 = 62;  // EM_X86_64
    private const uint ProgramNote = 4;       // PT_NOTE

    private TestDumpSet _dumps = null!;

    [OneTimeSetUp]
    public void MakeOrLoadDumps()
    {
        _dumps = TestDumps.Get(kernel);
        DumpTimings t = _dumps.Manifest.Timings;
        TestContext.Progress.WriteLine(
            $"VM tests: {_dumps} (vmcore {_dumps.Manifest.VmcoreBytes >> 20} MiB; boot {t.BootToInitSeconds:0.0} s, " +
            $"crash {t.InitToCrashSeconds:0.0} s, capture boot {t.CrashToCaptureInitSeconds:0.0} s, copy {t.CopySeconds:0.0} s)");
        TestContext.AddTestAttachment(_dumps.ConsoleLog, "serial console of both kernels");
    }

    [Test]
    public void GuestRanTheKernelUnderTest()
    {
        Assert.That(_dumps.KernelRelease, Is.EqualTo(kernel.Release));
        string console = File.ReadAllText(_dumps.ConsoleLog);
        Assert.That(console, Does.Contain($"Linux version {kernel.Release} "));
        Assert.That(console, Does.Contain($"kds.marker={_dumps.Marker}"));
    }

    [Test]
    public void TheCrashKernelWasReservedAndBooted()
    {
        string console = File.ReadAllText(_dumps.ConsoleLog);
        // 6.1: "Reserving 112MB of memory at …"; 6.12: "crashkernel reserved: … (112 MB)".
        Assert.That(console, Does.Match($@"(Reserving {DumpGuest.Default.CrashKernel[..^1]}MB of memory|crashkernel reserved: .* \({DumpGuest.Default.CrashKernel[..^1]} MB\))"));
        Assert.That(Regex.Matches(console, "Linux version ").Count, Is.EqualTo(2), "two kernels booted");
        Assert.That(console, Does.Contain("elfcorehdr="), "the second kernel was started by kexec -p");
        Assert.That(console, Does.Contain("KDS-COPY-END 0"));
    }

    [Test]
    public void ElfVmcoreIsAnX86_64CoreWithNotesForEveryCpu()
    {
        byte[] header = ReadStart(_dumps.ElfVmcore, 64 + 56);
        Assert.That(new FileInfo(_dumps.ElfVmcore).Length, Is.EqualTo(_dumps.Manifest.VmcoreBytes));
        Assert.That(header[..4], Is.EqualTo("\x7f"u8.ToArray().Concat("ELF"u8.ToArray())));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(16)), Is.EqualTo(ElfTypeCore));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(18)), Is.EqualTo(MachineX86_64));

        // fs/proc/vmcore.c merges all notes into the first program header.
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(32));
        byte[] phdr = ReadAt(_dumps.ElfVmcore, (long)phoff, 56);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(phdr), Is.EqualTo(ProgramNote));
        long notesOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(phdr.AsSpan(8));
        int notesSize = (int)BinaryPrimitives.ReadUInt64LittleEndian(phdr.AsSpan(32));
        List<ElfNote> notes = ElfNote.ParseAll(ReadAt(_dumps.ElfVmcore, notesOffset, notesSize), _dumps.ElfVmcore, notesOffset, DumpLimits.Default);

        Assert.That(notes.Count(n => n.IsPrStatus), Is.EqualTo(_dumps.Manifest.Guest.Cpus));
        string vmcoreinfo = Encoding.ASCII.GetString(notes.Single(n => n.IsVmcoreinfo).Descriptor.Span);
        Assert.That(vmcoreinfo, Does.Contain($"OSRELEASE={kernel.Release}\n"));
        Assert.That(vmcoreinfo, Does.Match(@"CRASHTIME=\d+\n"));
    }

    [Test]
    public void VmcoreDmesgShowsTheMarkerAndTheSysrqCrash()
    {
        Assert.That(_dumps.Manifest.VmcoreDmesg.ExitCode, Is.Zero, _dumps.Manifest.VmcoreDmesg.Output);
        string dmesg = File.ReadAllText(_dumps.VmcoreDmesg);
        Assert.That(dmesg, Does.Contain($"KDS-MARKER {_dumps.Marker}"));
        Assert.That(dmesg, Does.Contain("sysrq: Trigger a crash"));
    }

    [Test]
    public void MakedumpfileDmesgShowsTheMarkerAndTheSysrqCrash()
    {
        Assert.That(_dumps.Manifest.MakedumpfileDmesg.ExitCode, Is.Zero, _dumps.Manifest.MakedumpfileDmesg.Output);
        string dmesg = File.ReadAllText(_dumps.MakedumpfileDmesg);
        Assert.That(dmesg, Does.Contain($"KDS-MARKER {_dumps.Marker}"));
        Assert.That(dmesg, Does.Contain("sysrq: Trigger a crash"));
    }

    /// <summary>disk_dump_header.status (offset 424) carries the compression flag; the sub-header's dump_level is at block_size + 8.</summary>
    [TestCase(DumpVariant.KdumpZlib, 0x1u)]
    [TestCase(DumpVariant.KdumpLzo, 0x2u)]
    [TestCase(DumpVariant.KdumpUncompressed, 0x0u)]
    public void KdumpCompressedFilesHaveTheirHeader(DumpVariant variant, uint compression)
    {
        DerivedDump dump = Made(variant);
        byte[] header = ReadStart(dump.Path!, 464);
        Assert.That(Encoding.ASCII.GetString(header, 0, 8), Is.EqualTo("KDUMP   "));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8)), Is.EqualTo(6), "header_version");
        Assert.That(Encoding.ASCII.GetString(header, 12 + 65 * 2, 65).TrimEnd('\0'), Is.EqualTo(kernel.Release), "utsname.release");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(424)) & 0x27, Is.EqualTo(compression), "status compression bits");
        int blockSize = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(428));
        Assert.That(blockSize, Is.EqualTo(4096));
        int dumpLevel = BinaryPrimitives.ReadInt32LittleEndian(ReadAt(dump.Path!, blockSize + 8, 4));
        Assert.That(dumpLevel, Is.EqualTo(DumpLevel(dump)));
    }

    /// <summary>A 4 KiB header "makedumpfile" + type 1 + version 1 (big-endian), then records; the first writes the kdump header at 0.</summary>
    [Test]
    public void FlattenedFileHasItsHeaderAndAKdumpFirstRecord()
    {
        DerivedDump dump = Made(DumpVariant.Flattened);
        byte[] start = ReadStart(dump.Path!, 4096 + 16 + 8);
        Assert.That(start[..16], Is.EqualTo("makedumpfile\0\0\0\0"u8.ToArray()));
        Assert.That(BinaryPrimitives.ReadInt64BigEndian(start.AsSpan(16)), Is.EqualTo(1), "type");
        Assert.That(BinaryPrimitives.ReadInt64BigEndian(start.AsSpan(24)), Is.EqualTo(1), "version");
        Assert.That(BinaryPrimitives.ReadInt64BigEndian(start.AsSpan(4096)), Is.Zero, "first record offset");
        Assert.That(Encoding.ASCII.GetString(start, 4096 + 16, 8), Is.EqualTo("KDUMP   "));
    }

    [Test]
    public void MakedumpfileElfIsAnX86_64Core()
    {
        DerivedDump dump = Made(DumpVariant.MakedumpfileElf);
        byte[] header = ReadStart(dump.Path!, 64);
        Assert.That(Encoding.ASCII.GetString(header, 1, 3), Is.EqualTo("ELF"));
        Assert.That(header[0], Is.EqualTo(0x7f));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(16)), Is.EqualTo(ElfTypeCore));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(18)), Is.EqualTo(MachineX86_64));
    }

    [Test]
    public void ProcessListShowsInitTheSleeperAndKernelThreads()
    {
        IReadOnlyList<string> ps = _dumps.ProcessList;
        Assert.That(File.ReadAllLines(_dumps.ProcessListFile), Is.EqualTo(ps));
        Assert.That(ps[0], Does.Match(@"^\s*PID\s+PPID\s+STAT\s+COMMAND"));
        // busybox prints {comm} before args when they differ: init is /bin/sh running /init.
        Assert.That(ps, Has.Some.Match(@"^\s*1\s+0\s+\S+\s+init\s+\{init\} /bin/sh /init$"));
        Assert.That(ps, Has.Some.Match(@"^\s*\d+\s+1\s+S\s+sleep\s+sleep 3600$"));
        Assert.That(ps, Has.Some.Match(@"^\s*2\s+0\s+\S+\s+kthreadd\b"));
    }

    private DerivedDump Made(DumpVariant variant)
    {
        DerivedDump dump = _dumps.Variant(variant);
        Assert.That(dump.Path, Is.Not.Null, $"makedumpfile {string.Join(' ', dump.RequestedArguments)} failed: {dump.RequestedFailure}");
        if (dump.UsedFallback)
            Assert.Warn($"{variant}: makedumpfile {string.Join(' ', dump.RequestedArguments)} failed on {kernel.Release}; " +
                $"the file was made with {string.Join(' ', dump.Arguments!)}. {dump.RequestedFailure}");
        Assert.That(File.Exists(dump.Path), Is.True, dump.Path);
        return dump;
    }

    private static int DumpLevel(DerivedDump dump)
    {
        IReadOnlyList<string> arguments = dump.Arguments!;
        return int.Parse(arguments[arguments.ToList().IndexOf("-d") + 1]);
    }

    private static byte[] ReadStart(string path, int count) => ReadAt(path, 0, count);

    private static byte[] ReadAt(string path, long offset, int count)
    {
        using FileStream stream = File.OpenRead(path);
        stream.Position = offset;
        byte[] bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
