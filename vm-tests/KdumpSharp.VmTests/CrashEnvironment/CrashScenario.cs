using System.Security.Cryptography;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.CrashEnvironment;

/// <summary>
/// One crash through the product's crash environment: the first kernel is the harness's
/// dump-making guest (guest-init.sh arms the crash kernel with Debian's kexec -p, writes the
/// marker to /dev/kmsg and panics with sysrq-c), but the payload it arms is the initramfs built
/// by <see cref="CrashInitramfsBuilder"/> around the published kds-capture. The second disk is the
/// target. QEMU's -no-reboot turns the crash environment's final reboot into QEMU's exit.
/// </summary>
internal static class CrashScenario
{
    /// <summary>
    /// The harness's 112M is too small for a .NET init: the crash kernel keeps ~44 MiB of 112 after
    /// itself, and the rootfs (25 MiB), the runtime and the capture need more (measured: OOM while
    /// unpacking at 112M). The guest gets more RAM so the first kernel keeps room for kexec.
    /// </summary>
    public const int DefaultCrashKernelMiB = 192;

    public const int GuestMemoryMiB = 512;

    /// <summary>The crash kernel's command line: the harness's, plus what the image needs.</summary>
    public static string CrashCommandLine(DumpGuest guest) => $"{guest.CaptureCommandLine} {CrashInitramfsBuilder.RequiredCommandLine}";

    /// <summary>What one run left behind, kept under the test's work directory.</summary>
    public sealed record Result(string Directory, string Marker, QemuRun Run, string TargetDisk, CrashInitramfs Initramfs, string InitramfsPath);

    /// <summary>A fresh directory for one scenario's files; kept after the test for the console log.</summary>
    public static string WorkDirectory(string name, TestKernel kernel)
    {
        string directory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "crash-environment", $"{name}-{kernel.Release}-{DateTime.UtcNow:HHmmss}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>The crash initramfs for a virtio disk target on <paramref name="kernel"/>, with the file system's modules when mounted.</summary>
    public static CrashInitramfsRequest Request(TestKernel kernel, CaptureConfiguration configuration) => new()
    {
        KernelRelease = kernel.Release,
        ModulesDirectory = kernel.ModulesDirectory,
        KernelConfig = kernel.Config,
        CaptureDirectory = PublishedProgram.Capture.Directory,
        Configuration = configuration,
        Compression = InitramfsCompression.Zstd,
        // The guest's sysfs for /dev/vdb gives virtio_blk, then virtio_pci (see BlockDeviceDriversTests).
        Modules = configuration.Kind == TargetKind.Raw
            ? ["virtio_blk", "virtio_pci"]
            : ["virtio_blk", "virtio_pci", .. BlockDeviceDrivers.ModulesForFileSystem(configuration.FileSystem)],
    };

    /// <summary>Builds both images, crashes the guest and waits for QEMU to exit.</summary>
    public static Result Run(TestKernel kernel, string directory, CrashInitramfsRequest request, string targetDisk,
        int crashKernelMiB = DefaultCrashKernelMiB, TimeSpan? timeout = null)
    {
        string crashInitramfs = Path.Combine(directory, "crash-initramfs.img");
        CrashInitramfs built = CrashInitramfsBuilder.Build(request, crashInitramfs);
        TestContext.Out.WriteLine($"crash initramfs: {built.CompressedBytes} bytes {request.Compression}, {built.UncompressedBytes} uncompressed, {built.Files.Count} files, modules: {string.Join(' ', built.Modules.LoadOrder.Select(m => m.Name))}");
        QemuRun run = RunWithCrashInitramfs(kernel, directory, crashInitramfs, targetDisk, out string marker, crashKernelMiB, timeout);
        return new Result(directory, marker, run, targetDisk, built, crashInitramfs);
    }

    /// <summary>Crashes the guest with <paramref name="crashInitramfs"/> armed as the crash kernel's initramfs.</summary>
    public static QemuRun RunWithCrashInitramfs(TestKernel kernel, string directory, string crashInitramfs, string targetDisk, out string marker,
        int crashKernelMiB = DefaultCrashKernelMiB, TimeSpan? timeout = null)
    {
        kernel.EnsureInstalled();
        DumpGuest guest = DumpGuest.Default with { MemoryMiB = GuestMemoryMiB, CrashKernel = $"{crashKernelMiB}M" };
        marker = "kds-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        GuestImage.Initramfs first = GuestImage.BuildInitramfs(kernel, Path.Combine(directory, "first-initramfs.gz"));
        string payload = Path.Combine(directory, "payload.img");
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, crashInitramfs, CrashCommandLine(guest));

        var options = new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = first.Path,
            CommandLine = guest.CommandLine(marker),
            ConsoleLogPath = Path.Combine(directory, "console.log"),
            MemoryMiB = guest.MemoryMiB,
            Cpus = guest.Cpus,
            Disks = [new QemuDisk(payload, ReadOnly: true), new QemuDisk(targetDisk, ReadOnly: false)],
            Timeout = timeout ?? TimeSpan.FromMinutes(10),
        };
        TestContext.Progress.WriteLine($"crash environment: booting {kernel.Release} (console: {options.ConsoleLogPath})");
        QemuRun run = QemuMachine.Run(options);
        File.Delete(payload);
        if (run.Lines.FirstOrDefault(l => l.Text.StartsWith("KDS-FAIL:", StringComparison.Ordinal)) is ConsoleLine failure)
            throw new QemuException(run.Describe($"the guest failed: {failure.Text}"));
        return run;
    }

    /// <summary>A sparse disk image of <paramref name="mebibytes"/> MiB.</summary>
    public static string CreateDisk(string path, int mebibytes)
    {
        using var disk = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        disk.SetLength((long)mebibytes << 20);
        return path;
    }

    public static HostProcess.Result Tool(string file, string directory, params string[] arguments)
    {
        HostProcess.Result result = HostProcess.Run(file, arguments, directory, TimeSpan.FromMinutes(5));
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Output}");
        return result;
    }
}
