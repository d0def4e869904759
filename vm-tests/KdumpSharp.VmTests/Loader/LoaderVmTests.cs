using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using KdumpSharp.Analysis;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Kexec;
using KdumpSharp.Loader;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Loader;

/// <summary>
/// kds-loader inside a real guest of each Debian kernel: a fast reboot into a second kernel, and
/// a crash kernel armed with our crash initramfs whose kds-capture saves the dump after a real
/// sysrq-c panic, each with kexec_file_load and with our own kexec_load. One QEMU boot per
/// scenario; the guest side is loader-guest-init.sh.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed partial class LoaderVmTests(TestKernel kernel)
{
    /// <summary>Guest RAM of the scenarios that reserve no crash memory: room for the guest and the kernel it loads.</summary>
    private const int MemoryMiB = 320;

    /// <summary>Two kernel boots and .NET start-ups under TCG on a loaded 2-core host.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(12);

    /// <summary>
    /// The crash scenario also builds the crash initramfs in the guest and captures 512 MiB with
    /// kds-capture, all under TCG: the demo takes about 2 minutes on an idle host.
    /// </summary>
    private static readonly TimeSpan CrashTimeout = TimeSpan.FromMinutes(20);

    private string _work = null!;
    private string _loaderInitramfs = null!;

    /// <summary>The crash scenario's guest image (built on first use) names its target by this UUID; each run makes a fresh file system with it.</summary>
    private readonly Guid _crashTargetUuid = Guid.NewGuid();
    private string? _crashGuestInitramfs;

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

    /// <summary>The loader guest plus what <c>kds-loader crash load</c> needs to build our crash initramfs for the ext4 target.</summary>
    private string CrashGuestInitramfs()
    {
        if (_crashGuestInitramfs is null)
        {
            string path = Path.Combine(_work, "crash-guest-initramfs.cpio.gz");
            var configuration = new CaptureConfiguration { Target = $"UUID={_crashTargetUuid}", DeviceTimeout = TimeSpan.FromSeconds(60) };
            LoaderGuest.BuildInitramfs(kernel, path, configuration);
            TestContext.Progress.WriteLine($"crash-ready guest initramfs for {kernel.Release}: {new FileInfo(path).Length / 1e6:0.0} MB");
            _crashGuestInitramfs = path;
        }
        return _crashGuestInitramfs;
    }

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
        string guest = CrashGuestInitramfs();
        string image = Path.Combine(_work, $"crash-{syscall}-target.img");
        File.Delete(image);
        Ext4DumpTarget target = Ext4DumpTarget.Create(image, CrashReadyGuest.TargetDiskMiB, _crashTargetUuid, "kdsloader");

        QemuRun run = Boot($"crash-{syscall}",
            $"console=ttyS0 crashkernel={CrashReadyGuest.CrashKernelMiB}M panic=-1 kds.scenario=crash kds.syscall={syscall} kds.marker={marker}",
            [new QemuDisk(target.Image, ReadOnly: false)], initrd: guest, memoryMiB: CrashReadyGuest.MemoryMiB, timeout: CrashTimeout);

        AssertNoGuestFailure(run);
        Assert.That(Value(run, "KDS-RELEASE "), Is.EqualTo(kernel.Release));
        Assert.That(Value(run, "KDS-STATUS-BEFORE "), Is.EqualTo("3"), run.Describe("status before arming must exit 3"));
        Assert.That(run.Find("crash kernel:   not armed"), Is.Not.Null, run.Describe("status did not say 'not armed'"));
        Assert.That(Value(run, "KDS-LOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader crash load failed"));
        ConsoleLine? built = run.Find("crash initramfs: built /var/lib/kdumpsharp/crash-initramfs-");
        Assert.That(built, Is.Not.Null, run.Describe("the first crash load did not build our crash initramfs"));
        Assert.That(run.Find($"crash kernel armed with {CallOf(syscall)}"), Is.Not.Null, run.Describe("no 'armed' line"));
        Assert.That(Value(run, "KDS-STATUS-AFTER "), Is.EqualTo("0"), run.Describe("status after arming must exit 0"));
        Assert.That(run.Find("crash kernel:   armed"), Is.Not.Null, run.Describe("status did not say 'armed'"));

        Assert.That(Value(run, "KDS-UNLOAD-EXIT "), Is.EqualTo("0"), run.Describe("kds-loader crash unload failed"));
        Assert.That(Value(run, "KDS-STATUS-UNLOADED "), Is.EqualTo("3"), run.Describe("status after crash unload must exit 3"));
        Assert.That(Value(run, "KDS-RELOAD-EXIT "), Is.EqualTo("0"), run.Describe("arming again after unload failed"));
        Assert.That(run.Find("crash initramfs: reused /var/lib/kdumpsharp/crash-initramfs-"), Is.Not.Null, run.Describe("the second crash load did not reuse the image"));
        Assert.That(run.Find($"crash kernel armed with {CallOf(syscall)}", 2), Is.Not.Null, run.Describe("no second 'armed' line"));
        using (JsonDocument json = JsonDocument.Parse(Value(run, "KDS-JSON ")))
        {
            JsonElement state = json.RootElement;
            ulong reserved = (ulong)CrashReadyGuest.CrashKernelMiB << 20;
            Assert.That(state.GetProperty("crashLoaded").GetBoolean(), Is.True);
            Assert.That(state.GetProperty("crashSize").GetUInt64(), Is.EqualTo(reserved), "kexec_crash_size is the crashkernel= size");
            Assert.That(state.GetProperty("crashRanges").GetArrayLength(), Is.EqualTo(1));
            Assert.That(state.GetProperty("crashRanges")[0].GetProperty("bytes").GetUInt64(), Is.EqualTo(reserved));
            Assert.That(state.GetProperty("lockdown").GetString(), Is.EqualTo("none"), "Debian's kernels lock down only under Secure Boot");
            Assert.That(state.GetProperty("secureBoot").GetString(), Is.EqualTo("not-efi"), "QEMU's pc machine boots by BIOS");
        }

        // The crash kernel's command line, as the capture kernel logged it (init/main.c).
        ConsoleLine? crashCommandLine = run.Find("Kernel command line:", 2);
        Assert.That(crashCommandLine, Is.Not.Null, run.Describe("the crash kernel never logged its command line"));
        Assert.That(crashCommandLine!.Text, Does.Contain("nr_cpus=1").And.Contain("reset_devices").And.Contain(CrashInitramfsBuilder.RequiredCommandLine)
            .And.Contain("elfcorehdr=").And.Not.Contain("crashkernel="), "the crash kernel got the crash parameters, what our initramfs needs and elfcorehdr=");
        Assert.That(run.Find("kds-capture: "), Is.Not.Null, run.Describe("kds-capture never ran as the crash kernel's init"));
        Assert.That(run.Find("capture done; Reboot"), Is.Not.Null, run.Describe("kds-capture did not finish with its final action"));

        string dump = ExtractDump(target, run, syscall);
        using KernelDump crashed = KernelDump.Open(Path.Combine(dump, "vmcore.kds"));
        Assert.That(crashed.Vmcoreinfo.OsRelease, Is.EqualTo(kernel.Release));
        string dmesg = DmesgFormatter.Format(crashed.Log.Records);
        Assert.That(dmesg, Does.Contain($"KDS-MARKER {marker}"), "the crashed kernel's log in the dump holds the marker");
        Assert.That(dmesg, Does.Contain("sysrq: Trigger a crash"));
        Assert.That(File.ReadAllText(Path.Combine(dump, "vmcore-dmesg.txt")), Does.Contain($"KDS-MARKER {marker}"));
        // The native format's Ranges section is the source's PT_LOADs (docs/format.md §6.1): the
        // crash kernel's /proc/vmcore program headers, whichever syscall built its ELF core header.
        AssertLoadsCoverSystemRam(run, crashed.Reader.Memory.Ranges);

        TestContext.Out.WriteLine($"in the guest: {built!.Text}");
        ReportTimes(run, "sysrq: Trigger a crash", "capture done; Reboot");
    }

    /// <summary>
    /// The first kernel's System RAM (its /proc/iomem, printed before the panic) minus the crash
    /// region and [0, 1 MiB) — both loaders leave those out (arch/x86/kernel/crash.c) — must lie
    /// inside the vmcore's PT_LOADs: the ELF core header described all the memory worth saving.
    /// The same check on the loads with the highest RAM page cut off must fail, so a load that
    /// misses a page cannot pass unnoticed.
    /// </summary>
    private static void AssertLoadsCoverSystemRam(QemuRun run, IReadOnlyList<PhysicalRange> vmcoreLoads)
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
        var loads = vmcoreLoads.Select(s => (s.Start.Value, s.End.Value)).OrderBy(s => s.Item1).ToList();

        (ulong covered, ulong? missing) = Coverage(ram, crash[0], loads);
        Assert.That(missing, Is.Null,
            $"System RAM page 0x{missing:x} of the first kernel is in no PT_LOAD of the vmcore (loads: {string.Join(", ", loads.Select(l => $"0x{l.Item1:x}-0x{l.Item2:x}"))})");
        Assert.That(covered, Is.GreaterThan(0UL));
        ulong lastPage = (ram.Max(r => r.End) - 1) & ~4095UL;
        var cut = loads.Select(l => (l.Item1, Math.Min(l.Item2, lastPage))).ToList();
        Assert.That(Coverage(ram, crash[0], cut).Missing, Is.EqualTo(lastPage), "the coverage check did not notice a load missing the last RAM page");
        TestContext.Out.WriteLine($"vmcore PT_LOADs ({loads.Count} merged ranges) cover all {covered} System RAM pages outside the crash region and the first MiB");
    }

    /// <summary>How many RAM pages above 1 MiB and outside <paramref name="crash"/> the loads cover, and the first one they miss.</summary>
    private static (ulong Covered, ulong? Missing) Coverage(List<(ulong Start, ulong End)> ram, (ulong Start, ulong End) crash, List<(ulong, ulong)> loads)
    {
        ulong covered = 0;
        foreach ((ulong start, ulong end) in ram)
        {
            for (ulong page = Math.Max(start, 1UL << 20); page < end; page += 4096)
            {
                if (page >= crash.Start && page < crash.End)
                    continue;
                if (!loads.Any(l => page >= l.Item1 && page < l.Item2))
                    return (covered, page);
                covered++;
            }
        }
        return (covered, null);
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

    private QemuRun Boot(string scenario, string commandLine, IReadOnlyList<QemuDisk> disks, string? stopAfterLine = null,
        string? initrd = null, int memoryMiB = MemoryMiB, TimeSpan? timeout = null)
    {
        string log = Path.Combine(TestContext.CurrentContext.WorkDirectory, "vm-logs", $"loader-{scenario}-{kernel.Release}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.console.log");
        TestContext.Progress.WriteLine($"VM tests: booting {kernel.Release} for the kds-loader {scenario} scenario (console: {log})");
        return QemuMachine.Run(new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = initrd ?? _loaderInitramfs,
            CommandLine = commandLine,
            ConsoleLogPath = log,
            MemoryMiB = memoryMiB,
            Cpus = 2,
            Disks = disks,
            Timeout = timeout ?? Timeout,
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

    /// <summary>
    /// kds-capture's one dump directory on the target, copied out with debugfs; the directory is
    /// 0700 and every file in it 0600, as kds-capture creates them (src/Core/IO/CrashSafeFile.cs).
    /// </summary>
    private string ExtractDump(Ext4DumpTarget target, QemuRun run, string syscall)
    {
        IReadOnlyList<string> names = target.DumpDirectories();
        Assert.That(names, Has.Count.EqualTo(1), run.Describe($"expected one dump directory in /var/crash on the target, found: {string.Join(' ', names)}"));
        string path = $"/var/crash/{names[0]}";
        Assert.That(target.Mode(path), Is.EqualTo("0700"), path);
        string dump = target.Extract(path, Path.Combine(_work, $"crash-{syscall}-dump"));
        string[] files = [.. Directory.GetFiles(dump).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal)];
        Assert.That(files, Is.EqualTo(new[] { "capture.log", "vmcore-dmesg.txt", "vmcore.kds" }));
        foreach (string file in files)
            Assert.That(target.Mode($"{path}/{file}"), Is.EqualTo("0600"), file);
        return dump;
    }

    /// <summary>A /proc/iomem line: indentation, "start-end : name" (kernel/resource.c r_show).</summary>
    [GeneratedRegex(@"^( *)([0-9a-f]+)-([0-9a-f]+) : (.+)$")]
    private static partial Regex IomemLine();

}
