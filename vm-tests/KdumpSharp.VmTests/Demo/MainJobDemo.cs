using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Analyzer;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

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
public sealed partial class MainJobDemo(TextWriter narration)
{
    /// <summary>The .NET crash environment needs 120M on 6.1 (README); 192M leaves headroom.</summary>
    public const int CrashKernelMiB = 192;

    public const int GuestMemoryMiB = 512;

    /// <summary>The target disk: room for a 512 MiB guest's dump at level 31 and its log.</summary>
    public const int TargetDiskMiB = 512;

    /// <summary>The first kernel's modules for the disk, and what the crash initramfs built in the guest takes from /lib/modules.</summary>
    private static readonly string[] GuestModules = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"];

    /// <summary>Libraries kds-loader loads at run time without a DT_NEEDED: .NET's crypto shim dlopens OpenSSL for the cache key's SHA-256.</summary>
    private static readonly string[] OpenSslLibraries = ["libssl.so.3", "libcrypto.so.3"];

    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

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
        Guid uuid = Guid.NewGuid();
        string disk = Path.Combine(directory, "target.img");
        using (var image = new FileStream(disk, FileMode.CreateNew, FileAccess.Write))
            image.SetLength((long)TargetDiskMiB << 20);
        Tool("mkfs.ext4", directory, "-q", "-F", "-U", uuid.ToString(), "-L", "kdsdemo", disk);
        Say($"   {disk}: {TargetDiskMiB} MiB, ext4, UUID={uuid}");

        Step("4. the first kernel's machine: busybox init, kds-loader, kds-capture, /boot, /lib/modules, capture.conf");
        var configuration = new CaptureConfiguration { Target = $"UUID={uuid}", DeviceTimeout = TimeSpan.FromSeconds(60) };
        string initramfs = Path.Combine(directory, "guest-initramfs.gz");
        BuildGuest(initramfs, loader, capture, configuration);
        Say($"   {initramfs} ({Mb(new FileInfo(initramfs).Length)}); /etc/kdumpsharp/capture.conf:");
        foreach (string line in configuration.ToText().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
            Say($"     {line}");

        string marker = "kds-demo-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        Step($"5. booting QEMU (TCG, {GuestMemoryMiB} MiB, crashkernel={CrashKernelMiB}M): crash load (built), crash load again (reused), status, marker, sysrq-c; the crash kernel's kds-capture saves the dump and reboots");
        QemuRun run = Boot(directory, initramfs, disk, marker);
        Say($"   QEMU exited after {run.Elapsed.TotalSeconds:0} s");

        Step("6. reading the dump back from the ext4 image (debugfs rdump, nothing mounted)");
        string dump = Extract(directory, disk, run);
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

    private void BuildGuest(string path, PublishedProgram loader, PublishedProgram capture, CaptureConfiguration configuration)
    {
        string release = Kernel.Release;
        var resolver = new KernelModuleResolver(Kernel.ModulesDirectory);
        KernelModuleClosure firstKernel = resolver.Resolve(GuestImage.Modules);
        KernelModuleClosure all = resolver.Resolve(GuestModules);

        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip);
        writer.AddCharacterDevice("dev/console", UnixFileMode.UserRead | UnixFileMode.UserWrite, 5, 1);
        foreach (string mountPoint in new[] { "proc", "sys" })
            writer.AddDirectory(mountPoint);
        writer.AddFile("init", Encoding.UTF8.GetBytes(InitScript), Mode0755);

        var libraries = new SharedLibraryResolver();
        IEnumerable<SharedObject> files = libraries.Resolve("/bin/busybox").Files
            .Concat(libraries.Resolve(loader.Executable).Files.Skip(1))
            .Concat(libraries.Resolve(capture.Executable).Files.Skip(1));
        foreach (string library in CrashInitramfsBuilder.CodecLibraries.Concat(OpenSslLibraries))
            files = files.Concat(libraries.Resolve(FindLibrary(library)).Files);
        foreach (SharedObject file in files)
        {
            if (!writer.Contains(file.Path))
                writer.AddFileFromHost(file.Path, file.HostPath, Mode0755);
        }
        foreach (string applet in new[] { "sh", "mount", "insmod", "cat", "mkdir", "sleep", "sync", "poweroff" })
            writer.AddSymlink($"/bin/{applet}", "busybox");
        writer.AddFileFromHost("usr/bin/kds-loader", loader.Executable, Mode0755);
        writer.AddFileFromHost($"{CrashInitramfsSources.PackagedCaptureDirectory.TrimStart('/')}/kds-capture", capture.Executable, Mode0755);

        writer.AddFileFromHost($"boot/vmlinuz-{release}", Kernel.Vmlinuz, Mode0644);
        writer.AddFileFromHost($"boot/config-{release}", Kernel.Config, Mode0644);
        foreach (string index in new[] { "modules.dep", "modules.builtin" })
            writer.AddFileFromHost($"lib/modules/{release}/{index}", Path.Combine(Kernel.ModulesDirectory, index), Mode0644);
        foreach (KernelModule module in all.LoadOrder)
            writer.AddFileFromHost($"lib/modules/{release}/{module.RelativePath}", module.FullPath, Mode0644);
        string list = string.Concat(firstKernel.LoadOrder.Select(m => $"/lib/modules/{release}/{m.RelativePath}\n"));
        writer.AddFile("etc/kds/modules", Encoding.UTF8.GetBytes(list), Mode0644);
        writer.AddFile(CaptureConfiguration.DefaultPath.TrimStart('/'), Encoding.UTF8.GetBytes(configuration.ToText()), Mode0644);
        writer.Finish();
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

    private string Extract(string directory, string disk, QemuRun run)
    {
        string listing = Tool("debugfs", directory, "-R", "ls -l /var/crash", disk);
        string[] names = [.. DumpDirectoryName().Matches(listing).Select(m => m.Groups[1].Value)];
        if (names.Length != 1)
            throw new MainJobDemoException(run.Describe($"expected one dump directory in /var/crash on the target, found {names.Length}: {listing.Trim()}"));
        string extracted = Path.Combine(directory, "dump");
        System.IO.Directory.CreateDirectory(extracted);
        Tool("debugfs", directory, "-R", $"rdump /var/crash/{names[0]} {extracted}", disk);
        return Path.Combine(extracted, names[0]);
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

    private static string Tool(string file, string directory, params string[] arguments)
    {
        HostProcess.Result result = HostProcess.Run(file, arguments, directory, TimeSpan.FromMinutes(5));
        if (result.ExitCode != 0)
            throw new MainJobDemoException($"{file} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Output.ReplaceLineEndings(" ")}");
        return result.Output;
    }

    private static string FindLibrary(string name) =>
        SharedLibraryResolver.DefaultSearchDirectories.Select(d => $"{d}/{name}").FirstOrDefault(File.Exists)
        ?? throw new MainJobDemoException($"{name} is not installed on this host (scripts/setup.sh installs it)");

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

    [GeneratedRegex(@"\s([A-Za-z0-9._-]+-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d)\s*$", RegexOptions.Multiline)]
    private static partial Regex DumpDirectoryName();
}
