using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using KdumpSharp.Analyzer;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;
using KdumpSharp.VmTests.Loader;

namespace KdumpSharp.VmTests.Demo;

/// <summary>What one demo run left behind.</summary>
/// <param name="Directory">The run's work directory: images, console log, the extracted dump.</param>
/// <param name="DumpDirectory">The dump directory copied out of the target disk.</param>
/// <param name="Marker">The line written to the guest's /dev/kmsg just before the panic.</param>
/// <param name="Triage">kds-analyzer triage on the dump.</param>
/// <param name="Dmesg">kds-analyzer dmesg on the dump.</param>
/// <param name="Run">The QEMU run (both kernels), with every console line.</param>
/// <param name="Elapsed">The whole demo, preparation included.</param>
public sealed record MainJobDemoResult(string Directory, string DumpDirectory, string Marker, string Triage, string Dmesg, QemuRun Run, TimeSpan Elapsed);

/// <summary>A demo step failed; the message is one line, then the console tail when a guest was involved.</summary>
public sealed class MainJobDemoException(string message) : Exception(message);

/// <summary>
/// KdumpSharp's main job end to end, on a real Debian 6.1 kernel in QEMU: a machine whose
/// administrator has installed kds-loader and kds-capture and written capture.conf runs
/// <c>kds-loader crash load</c> (the crash initramfs is built in the guest), panics, the crash
/// kernel's kds-capture saves the dump on the ext4 disk and reboots, and the host reads the dump
/// back with debugfs and kds-analyzer. Each step is narrated on the given writer; the guest's
/// console is streamed with a "guest| " prefix. No NUnit: the console demo and the VM test share it.
/// </summary>
public sealed class MainJobDemo(TextWriter narration)
{
    public const int CrashKernelMiB = CrashReadyGuest.CrashKernelMiB;

    public const int GuestMemoryMiB = CrashReadyGuest.MemoryMiB;

    public const int TargetDiskMiB = CrashReadyGuest.TargetDiskMiB;

    private readonly Stopwatch _clock = new();

    public TestKernel Kernel { get; init; } = TestKernel.Debian61;

    /// <summary>Runs the whole demo in a new directory under <paramref name="workRoot"/>.</summary>
    /// <exception cref="MainJobDemoException">A step failed.</exception>
    public MainJobDemoResult Run(string workRoot)
    {
        _clock.Restart();
        string directory = Path.Combine(workRoot, $"demo-{Kernel.Release}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        System.IO.Directory.CreateDirectory(directory);
        Say($"work directory: {directory}");

        Step($"1. the kernel: Debian {Kernel.Package}");
        Kernel.EnsureInstalled();
        Say($"   {Kernel.Vmlinuz}");

        Step("2. publishing kds-loader and kds-capture (self-contained single files; cached by source hash)");
        PublishedProgram loader = PublishedProgram.Loader;
        PublishedProgram capture = PublishedProgram.Capture;
        Say($"   {loader.Executable} ({Mb(new FileInfo(loader.Executable).Length)})");
        Say($"   {capture.Executable} ({Mb(new FileInfo(capture.Executable).Length)})");

        Step("3. the dump target: an ext4 disk image");
        Ext4DumpTarget target = Setup(() => Ext4DumpTarget.Create(Path.Combine(directory, "target.img"), TargetDiskMiB, Guid.NewGuid(), "kdsdemo"));
        Say($"   {target.Image}: {TargetDiskMiB} MiB, ext4, UUID={target.Uuid}");

        Step("4. the first kernel's machine: busybox init, kds-loader, kds-capture, /boot, /lib/modules, capture.conf");
        var configuration = new CaptureConfiguration { Target = $"UUID={target.Uuid}", DeviceTimeout = TimeSpan.FromSeconds(60) };
        string initramfs = Path.Combine(directory, "guest-initramfs.gz");
        // The loader VM tests' crash-ready guest, with the demo's /init.
        Setup(() => LoaderGuest.BuildInitramfs(Kernel, initramfs, configuration, InitScript));
        Say($"   {initramfs} ({Mb(new FileInfo(initramfs).Length)}); /etc/kdumpsharp/capture.conf:");
        foreach (string line in configuration.ToText().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
            Say($"     {line}");

        string marker = "kds-demo-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        Step($"5. booting QEMU (TCG, {GuestMemoryMiB} MiB, crashkernel={CrashKernelMiB}M): crash load (built), crash load again (reused), status, marker, sysrq-c; the crash kernel's kds-capture saves the dump and reboots");
        QemuRun run = Boot(directory, initramfs, target.Image, marker);
        Say($"   QEMU exited after {run.Elapsed.TotalSeconds:0} s");

        Step("6. reading the dump back from the ext4 image (debugfs rdump, nothing mounted)");
        string dump = Extract(directory, target, run);
        foreach (string file in System.IO.Directory.GetFiles(dump).Order(StringComparer.Ordinal))
            Say($"   {file} ({Mb(new FileInfo(file).Length)})");

        Step("7. kds-analyzer triage");
        string vmcore = Path.Combine(dump, "vmcore.kds");
        string triage = Analyzer("triage", vmcore);
        foreach (string line in triage.TrimEnd().Split('\n'))
            Say("   " + line);

        Step("8. kds-analyzer dmesg (last lines)");
        string dmesg = Analyzer("dmesg", vmcore);
        foreach (string line in dmesg.TrimEnd().Split('\n').TakeLast(12))
            Say("   " + line);
        string markerLine = dmesg.Split('\n').FirstOrDefault(l => l.Contains($"KDS-MARKER {marker}", StringComparison.Ordinal))
            ?? throw new MainJobDemoException($"the dump's kernel log lacks the marker 'KDS-MARKER {marker}' written before the panic");
        Say($"   the marker written just before the panic is in the dump's log: {markerLine.Trim()}");

        Say("");
        Say($"done in {_clock.Elapsed.TotalSeconds:0} s. The dump: {dump} (vmcore.kds, vmcore-dmesg.txt, capture.log);");
        Say($"the guest's console: {run.ConsoleLogPath}; try: kds-analyzer bt {vmcore}");
        return new MainJobDemoResult(directory, dump, marker, triage, dmesg, run, _clock.Elapsed);
    }

    private QemuRun Boot(string directory, string initramfs, string disk, string marker)
    {
        var options = new QemuOptions
        {
            Kernel = Kernel.Vmlinuz,
            Initrd = initramfs,
            // panic=-1: if the crash kernel cannot start, the first kernel reboots and -no-reboot ends QEMU.
            CommandLine = $"console=ttyS0 crashkernel={CrashKernelMiB}M panic=-1 kds.marker={marker}",
            ConsoleLogPath = Path.Combine(directory, "console.log"),
            MemoryMiB = GuestMemoryMiB,
            Cpus = 2,
            Disks = [new QemuDisk(disk, ReadOnly: false)],
            Timeout = TimeSpan.FromMinutes(20),
            OnLine = line =>
            {
                lock (narration)
                    narration.WriteLine("guest| " + line);
            },
        };
        QemuRun run;
        try
        {
            run = QemuMachine.Run(options);
        }
        catch (QemuException e)
        {
            throw new MainJobDemoException(e.Message);
        }
        if (run.Lines.FirstOrDefault(l => l.Text.Contains("KDS-FAIL:", StringComparison.Ordinal)) is ConsoleLine failure)
            throw new MainJobDemoException(run.Describe($"the first kernel failed: {failure.Text}"));
        // The crash kernel's boot is the console's second "Linux version" banner.
        if (run.Find("Linux version", occurrence: 2) is null)
            throw new MainJobDemoException(run.Describe("the panic did not start the crash kernel"));
        if (run.Find("kds-capture: ") is not null && run.Find("capture done") is null)
            throw new MainJobDemoException(run.Describe("kds-capture did not finish the capture"));
        return run;
    }

    private static string Extract(string directory, Ext4DumpTarget target, QemuRun run)
    {
        IReadOnlyList<string> names = Setup(() => target.DumpDirectories());
        if (names.Count != 1)
            throw new MainJobDemoException(run.Describe($"expected one dump directory in /var/crash on the target, found {names.Count}: {string.Join(' ', names)}"));
        return Setup(() => target.Extract($"/var/crash/{names[0]}", Path.Combine(directory, "dump")));
    }

    private static string Analyzer(params string[] arguments)
    {
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = AnalyzerCli.Run(arguments, output, error);
        if (code != 0)
            throw new MainJobDemoException($"kds-analyzer {string.Join(' ', arguments)} exited with {code}: {error.ToString().Trim()}");
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>Runs a harness step, reporting its failure as the demo's.</summary>
    private static void Setup(Action step) => Setup(() =>
    {
        step();
        return 0;
    });

    /// <summary>Runs a harness step, reporting its failure as the demo's.</summary>
    private static T Setup<T>(Func<T> step)
    {
        try
        {
            return step();
        }
        catch (GuestSetupException e)
        {
            throw new MainJobDemoException(e.Message);
        }
    }

    /// <summary>demo-guest-init.sh, read from the source tree next to this file.</summary>
    private static string InitScript =>
        File.ReadAllText(Path.Combine(PublishedProgram.RepositoryRoot, "vm-tests", "KdumpSharp.VmTests", "Demo", "demo-guest-init.sh"));

    private void Step(string text) => Say($"[{_clock.Elapsed.TotalSeconds,5:0}s] {text}");

    private void Say(string text)
    {
        lock (narration)
        {
            narration.WriteLine(text);
            narration.Flush();
        }
    }

    private static string Mb(long bytes) => $"{bytes / 1e6:0.0} MB";
}
