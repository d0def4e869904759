using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KdumpSharp.Analysis;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Kexec;
using KdumpSharp.Loader;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Loader;

/// <summary>
/// kds-loader inside a real guest of each Debian kernel: a kexec_file_load fast reboot into a
/// second kernel, and a crash kernel armed with kexec_file_load that saves the vmcore after a
/// real sysrq-c panic. One QEMU boot per scenario; the guest side is loader-guest-init.sh.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed partial class LoaderVmTests(TestKernel kernel)
{
    /// <summary>Guest RAM and reservation as the dump harness uses (DumpGuest): both kernels boot and capture in them.</summary>
    private const int MemoryMiB = 320;
    private const string CrashKernel = "112M";

    /// <summary>Two kernel boots and .NET start-ups under TCG on a loaded 2-core host.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(12);

    /// <summary>The vmcore starts this far into the dump disk; guest-init.sh writes its header line at 0.</summary>
    private const long DumpDiskDataOffset = 1 << 20;

    private string _work = null!;
    private string _loaderInitramfs = null!;

    [OneTimeSetUp]
    public void BuildGuest()
    {
        kernel.EnsureInstalled();
        _work = Directory.CreateTempSubdirectory($"kds-loader-vm-{kernel.Release}-").FullName;
        _loaderInitramfs = Path.Combine(_work, "loader-initramfs.cpio.gz");
        LoaderGuest.BuildInitramfs(kernel, _loaderInitramfs);
        TestContext.Progress.WriteLine($"kds-loader guest initramfs for {kernel.Release}: {new FileInfo(_loaderInitramfs).Length / 1e6:0.0} MB");
    }

    [OneTimeTearDown]
    public void RemoveWork() => Directory.Delete(_work, recursive: true);

    [Test]
    public void Fast_reboot_boots_the_second_kernel_with_the_marker([Values("file", "classic")] string syscall)
    {
        string marker = NewMarker();
        string payload = Path.Combine(_work, "reboot-payload.img");
        File.Delete(payload);
        // The second kernel boots the same initramfs; its init sees kds.marker2= and reports.
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, _loaderInitramfs, "");

        QemuRun run = Boot($"reboot-{syscall}", $"console=ttyS0 panic=-1 kds.scenario=reboot kds.syscall={syscall} kds.marker={marker}",
            [new QemuDisk(payload, ReadOnly: true)]);

        AssertNoGuestFailure(run);
        Assert.That(Value(run, "KDS-STATUS-BEFORE "), Is.EqualTo("3"), run.Describe("status before any load must exit 3 (no crash kernel)"));
        Assert.That(Value(run, "KDS-EXEC-UNLOADED-EXIT "), Is.EqualTo(ExitCodes.NothingLoaded.ToString()), run.Describe("exec with nothing loaded must refuse"));
        Assert.That(run.Find("kds-loader: no kernel is loaded for kexec"), Is.Not.Null, run.Describe("exec's refusal was not explained"));
        Assert.That(run.Lines.Count(l => l.Text.Contains("rebooting into the loaded kernel now", StringComparison.Ordinal)), Is.EqualTo(1),
            run.Describe("only the exec that reboots may say it is rebooting"));
        Assert.That(Value(run, "KDS-CRASH-UNRESERVED-EXIT "), Is.EqualTo(ExitCodes.NoReservation.ToString()), run.Describe("crash load without crashkernel= must refuse"));
        Assert.That(run.Find("kds-loader: no memory is reserved for a crash kernel"), Is.Not.Null, run.Describe("the missing reservation was not explained"));
        Assert.That(Value(run, "KDS-FIRST-LOAD-EXIT "), Is.EqualTo("0"), run.Describe("the first kds-loader load failed"));
        Assert.That(Value(run, "KDS-UNLOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader unload failed"));
        Assert.That(Value(run, "KDS-AFTER-UNLOAD "), Is.EqualTo("0"), run.Describe("kexec_loaded is still 1 after unload"));
        Assert.That(Value(run, "KDS-LOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader load failed"));
        Assert.That(Value(run, "KDS-KEXEC-LOADED "), Is.EqualTo("1"), run.Describe("kexec_loaded is not 1 after load"));
        Assert.That(run.Find($"loaded with {CallOf(syscall)};"), Is.Not.Null, run.Describe($"kds-loader did not say it used {CallOf(syscall)}"));
        Assert.That(run.Find("Linux version", 2), Is.Not.Null, run.Describe("no second kernel boot on the console"));
        Assert.That(Value(run, "KDS-SECOND-KERNEL "), Is.EqualTo(kernel.Release), run.Describe("the second kernel runs another release"));
        string cmdline = Value(run, "KDS-CMDLINE ");
        Assert.That(cmdline.Split(' '), Does.Contain($"kds.marker2={marker}").And.Contain("console=ttyS0").And.Not.Contain("kds.marker2=unloaded"),
            run.Describe("the second kernel is not the one loaded last, with the marker"));
        ReportTimes(run, "KDS-STATUS-BEFORE", "KDS-EXEC-UNLOADED-EXIT");
        ReportTimes(run, "rebooting into the loaded kernel now", "KDS-SECOND-KERNEL");
    }

    [Test]
    public void Crash_kernel_saves_the_vmcore_after_a_panic([Values("file", "classic")] string syscall)
    {
        string marker = NewMarker();
        string captureInitramfs = Path.Combine(_work, "capture-initramfs.cpio.gz");
        if (!File.Exists(captureInitramfs))
            GuestImage.BuildInitramfs(kernel, captureInitramfs);
        string payload = Path.Combine(_work, "crash-payload.img");
        string dumpDisk = Path.Combine(_work, "dump.img");
        File.Delete(payload);
        File.Delete(dumpDisk);
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, captureInitramfs, "kds.capture=1");
        using (var disk = new FileStream(dumpDisk, FileMode.CreateNew, FileAccess.Write))
            disk.SetLength(((long)MemoryMiB << 20) + (128L << 20));

        QemuRun run = Boot($"crash-{syscall}", $"console=ttyS0 crashkernel={CrashKernel} panic=-1 kds.scenario=crash kds.syscall={syscall} kds.marker={marker}",
            [new QemuDisk(payload, ReadOnly: true), new QemuDisk(dumpDisk, ReadOnly: false)]);

        AssertNoGuestFailure(run);
        Assert.That(Value(run, "KDS-RELEASE "), Is.EqualTo(kernel.Release));
        Assert.That(Value(run, "KDS-STATUS-BEFORE "), Is.EqualTo("3"), run.Describe("status before arming must exit 3"));
        Assert.That(run.Find("crash kernel:   not armed"), Is.Not.Null, run.Describe("status did not say 'not armed'"));
        Assert.That(Value(run, "KDS-LOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader crash load failed"));
        Assert.That(run.Find($"crash kernel armed with {CallOf(syscall)}"), Is.Not.Null, run.Describe("no 'armed' line"));
        Assert.That(Value(run, "KDS-STATUS-AFTER "), Is.EqualTo("0"), run.Describe("status after arming must exit 0"));
        Assert.That(run.Find("crash kernel:   armed"), Is.Not.Null, run.Describe("status did not say 'armed'"));

        Assert.That(Value(run, "KDS-UNLOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader crash unload failed"));
        Assert.That(Value(run, "KDS-STATUS-UNLOADED "), Is.EqualTo("3"), run.Describe("status after crash unload must exit 3"));
        Assert.That(Value(run, "KDS-RELOAD-EXIT "), Is.EqualTo("0"), run.Describe("arming again after unload failed"));
        using (JsonDocument json = JsonDocument.Parse(Value(run, "KDS-JSON ")))
        {
            JsonElement state = json.RootElement;
            Assert.That(state.GetProperty("crashLoaded").GetBoolean(), Is.True);
            Assert.That(state.GetProperty("crashSize").GetUInt64(), Is.EqualTo(112UL << 20), "kexec_crash_size is the crashkernel= size");
            Assert.That(state.GetProperty("crashRanges").GetArrayLength(), Is.EqualTo(1));
            Assert.That(state.GetProperty("crashRanges")[0].GetProperty("bytes").GetUInt64(), Is.EqualTo(112UL << 20));
            Assert.That(state.GetProperty("lockdown").GetString(), Is.EqualTo("none"), "Debian's kernels lock down only under Secure Boot");
            Assert.That(state.GetProperty("secureBoot").GetString(), Is.EqualTo("not-efi"), "QEMU's pc machine boots by BIOS");
        }

        // The crash kernel's command line, as the capture kernel logged it (init/main.c).
        ConsoleLine? crashCommandLine = run.Find("Kernel command line:", 2);
        Assert.That(crashCommandLine, Is.Not.Null, run.Describe("the crash kernel never logged its command line"));
        Assert.That(crashCommandLine!.Text, Does.Contain("nr_cpus=1").And.Contain("reset_devices").And.Contain("kds.capture=1")
            .And.Contain("elfcorehdr=").And.Not.Contain("crashkernel="), "the crash kernel got the crash parameters and the kernel's elfcorehdr=");
        Assert.That(run.Find("KDS-COPY-END 0"), Is.Not.Null, run.Describe("the crash kernel did not copy /proc/vmcore"));

        string vmcore = ExtractVmcore(run, dumpDisk);
        using KernelDump dump = KernelDump.Open(vmcore);
        Assert.That(dump.Vmcoreinfo.OsRelease, Is.EqualTo(kernel.Release));
        string dmesg = DmesgFormatter.Format(dump.Log.Records);
        Assert.That(dmesg, Does.Contain($"KDS-MARKER {marker}"), "the crashed kernel's log in the vmcore holds the marker");
        Assert.That(dmesg, Does.Contain("sysrq: Trigger a crash"));
        AssertLoadsCoverSystemRam(run, (ElfVmcoreReader)dump.Reader);
        ReportTimes(run, "sysrq: Trigger a crash", "KDS-COPY-BEGIN");
    }

    /// <summary>
    /// The first kernel's System RAM (its /proc/iomem, printed before the panic) minus the crash
    /// region and [0, 1 MiB) — both loaders leave those out (arch/x86/kernel/crash.c) — must lie
    /// inside the vmcore's PT_LOADs: the ELF core header described all the memory worth saving.
    /// </summary>
    private static void AssertLoadsCoverSystemRam(QemuRun run, ElfVmcoreReader vmcore)
    {
        var ram = new List<(ulong Start, ulong End)>();
        var crash = new List<(ulong Start, ulong End)>();
        foreach (ConsoleLine line in run.Lines.Where(l => l.Text.StartsWith("KDS-IOMEM ", StringComparison.Ordinal)))
        {
            Match m = IomemLine().Match(line.Text["KDS-IOMEM ".Length..]);
            Assert.That(m.Success, Is.True, run.Describe($"unreadable iomem line '{line.Text}'"));
            (ulong, ulong) range = (Convert.ToUInt64(m.Groups[2].Value, 16), Convert.ToUInt64(m.Groups[3].Value, 16) + 1);
            if (m.Groups[1].Length == 0 && m.Groups[4].Value == "System RAM")
                ram.Add(range);
            else if (m.Groups[4].Value == "Crash kernel")
                crash.Add(range);
        }
        Assert.That(ram, Is.Not.Empty, run.Describe("the guest printed no System RAM lines of /proc/iomem"));
        Assert.That(crash, Has.Count.EqualTo(1), run.Describe("the guest's /proc/iomem has no single Crash kernel range"));
        var loads = vmcore.Segments.Select(s => (s.Memory.Start.Value, s.Memory.End.Value)).OrderBy(s => s.Item1).ToList();
        ulong covered = 0;
        foreach ((ulong start, ulong end) in ram)
        {
            for (ulong page = Math.Max(start, 1UL << 20); page < end; page += 4096)
            {
                if (page >= crash[0].Start && page < crash[0].End)
                    continue;
                Assert.That(loads.Any(l => page >= l.Item1 && page < l.Item2), Is.True,
                    $"System RAM page 0x{page:x} of the first kernel is in no PT_LOAD of the vmcore (loads: {string.Join(", ", loads.Select(l => $"0x{l.Item1:x}-0x{l.Item2:x}"))})");
                covered++;
            }
        }
        TestContext.Out.WriteLine($"vmcore PT_LOADs cover all {covered} System RAM pages outside the crash region and the first MiB");
    }

    /// <summary>
    /// The purgatory's checksum, proved on a real boot: kds-loader's test hook stores a wrong
    /// checksum for one segment, and exec must end in the purgatory's one serial line naming that
    /// segment, with no second kernel after it.
    /// </summary>
    [TestCase(0, "kernel")]
    public void The_purgatory_refuses_a_damaged_segment_and_never_boots_it(int segment, string name)
    {
        string marker = NewMarker();
        string payload = Path.Combine(_work, "corrupt-payload.img");
        File.Delete(payload);
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, _loaderInitramfs, "");
        string refusal = $"kds purgatory: segment {segment} ({name} @0x";

        QemuRun run = Boot($"corrupt-{segment}", $"console=ttyS0 panic=-1 kds.scenario=corrupt kds.corrupt={segment} kds.marker={marker}",
            [new QemuDisk(payload, ReadOnly: true)], stopAfterLine: refusal);

        AssertNoGuestFailure(run);
        Assert.That(Value(run, "KDS-LOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader load --debug-corrupt-segment failed"));
        Assert.That(run.Find("loaded with kexec_load;"), Is.Not.Null, run.Describe("the load did not use kexec_load"));
        ConsoleLine? line = run.Find(refusal);
        Assert.That(line, Is.Not.Null, run.Describe($"the purgatory did not report segment {segment} ({name})"));
        Assert.That(line!.Text, Does.EndWith(") damaged; halted"));
        Assert.That(run.Find("Linux version", 2), Is.Null, run.Describe("a second kernel booted after the purgatory refused"));
        Assert.That(run.Lines.Any(l => l.Text.StartsWith("KDS-SECOND-KERNEL", StringComparison.Ordinal)), Is.False, run.Describe("the damaged image ran"));
        ReportTimes(run, "rebooting into the loaded kernel now", refusal);
    }

    /// <summary>The header check kds-loader makes before kexec_file_load accepts the real image, with the limit the kernel applies.</summary>
    [Test]
    public void The_debian_kernel_passes_the_bzimage_check_with_a_2016_byte_limit()
    {
        BzImage image = BzImage.Read(kernel.Vmlinuz);

        Assert.That(image.Header.Version, Is.GreaterThanOrEqualTo((ushort)0x020c), "kexec_file_load needs boot protocol 2.12");
        Assert.That(image.Header.CommandLineSize, Is.EqualTo(2047u));
        Assert.That(image.MaxFileLoadCommandLine, Is.EqualTo(2016));
    }

    private QemuRun Boot(string scenario, string commandLine, IReadOnlyList<QemuDisk> disks, string? stopAfterLine = null)
    {
        string log = Path.Combine(TestContext.CurrentContext.WorkDirectory, "vm-logs", $"loader-{scenario}-{kernel.Release}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.console.log");
        TestContext.Progress.WriteLine($"VM tests: booting {kernel.Release} for the kds-loader {scenario} scenario (console: {log})");
        return QemuMachine.Run(new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = _loaderInitramfs,
            CommandLine = commandLine,
            ConsoleLogPath = log,
            MemoryMiB = MemoryMiB,
            Cpus = 2,
            Disks = disks,
            Timeout = Timeout,
            StopAfterLine = stopAfterLine,
        });
    }

    private static void AssertNoGuestFailure(QemuRun run)
    {
        if (run.Lines.FirstOrDefault(l => l.Text.StartsWith("KDS-FAIL:", StringComparison.Ordinal)) is ConsoleLine failure)
            Assert.Fail(run.Describe($"the guest failed: {failure.Text}"));
    }

    private static string Value(QemuRun run, string prefix)
    {
        ConsoleLine? line = run.Lines.FirstOrDefault(l => l.Text.StartsWith(prefix, StringComparison.Ordinal));
        if (line is null)
            Assert.Fail(run.Describe($"the guest printed no '{prefix.Trim()}' line"));
        return line!.Text[prefix.Length..].Trim();
    }

    private static string CallOf(string syscall) => syscall == "classic" ? "kexec_load" : "kexec_file_load";

    private static string NewMarker() => "kds-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static void ReportTimes(QemuRun run, string from, string to)
    {
        ConsoleLine? a = run.Find(from), b = run.Find(to);
        if (a is not null && b is not null)
            TestContext.Out.WriteLine($"'{from}' to '{to}': {(b.At - a.At).TotalSeconds:0.0} s; QEMU ran {run.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>guest-init.sh's header line "KDSVMCORE1 &lt;bytes&gt; &lt;dd status&gt;", then that many bytes from 1 MiB.</summary>
    private string ExtractVmcore(QemuRun run, string dumpDisk)
    {
        using var disk = new FileStream(dumpDisk, FileMode.Open, FileAccess.Read);
        byte[] head = new byte[512];
        disk.ReadExactly(head);
        int newline = Array.IndexOf(head, (byte)'\n');
        Match match = DumpHeader().Match(newline < 0 ? "" : Encoding.ASCII.GetString(head, 0, newline));
        Assert.That(match.Success, Is.True, run.Describe("the dump disk has no KDSVMCORE1 header"));
        Assert.That(match.Groups[2].Value, Is.EqualTo("0"), run.Describe("dd of /proc/vmcore failed in the crash kernel"));
        long bytes = long.Parse(match.Groups[1].Value);
        Assert.That(DumpDiskDataOffset + bytes, Is.LessThanOrEqualTo(disk.Length));
        string vmcore = Path.Combine(_work, "vmcore");
        File.Delete(vmcore);
        disk.Position = DumpDiskDataOffset;
        using (var output = new FileStream(vmcore, FileMode.CreateNew, FileAccess.Write))
        {
            byte[] buffer = new byte[1 << 20];
            for (long remaining = bytes; remaining > 0;)
            {
                int chunk = (int)Math.Min(buffer.Length, remaining);
                disk.ReadExactly(buffer, 0, chunk);
                output.Write(buffer, 0, chunk);
                remaining -= chunk;
            }
        }
        return vmcore;
    }

    /// <summary>A /proc/iomem line: indentation, "start-end : name" (kernel/resource.c r_show).</summary>
    [GeneratedRegex(@"^( *)([0-9a-f]+)-([0-9a-f]+) : (.+)$")]
    private static partial Regex IomemLine();

    [GeneratedRegex(@"^KDSVMCORE1 (\d+) (\d+)$")]
    private static partial Regex DumpHeader();
}
