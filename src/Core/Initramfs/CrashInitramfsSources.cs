using KdumpSharp.CrashEnvironment;
using KdumpSharp.Kexec;

namespace KdumpSharp.Initramfs;

/// <summary>capture.conf, kds-capture or the target could not be found on the running system; the message names what and where.</summary>
public sealed class CrashInitramfsSourceException(string message) : InitramfsInputException(message);

/// <summary>
/// What the crash initramfs is built from on the running system: /etc/kdumpsharp/capture.conf,
/// the running release's /lib/modules and /boot/config, the target's driver chain read from sysfs,
/// and the published kds-capture.
/// </summary>
public static class CrashInitramfsSources
{
    /// <summary>Where a package installs the published kds-capture.</summary>
    public const string PackagedCaptureDirectory = "/usr/lib/kdumpsharp/capture";

    private const string CaptureExecutable = "kds-capture";

    /// <summary>
    /// The kds-capture directory: <paramref name="given"/> if set, else the loader's own directory
    /// when kds-capture sits beside it (a release unpacked in one place), else the packaged one.
    /// </summary>
    /// <exception cref="CrashInitramfsSourceException">None of them holds kds-capture.</exception>
    public static string FindCaptureDirectory(string? given, string? loaderDirectory, SystemRoot root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (given is not null)
        {
            return File.Exists(Path.Combine(given, CaptureExecutable))
                ? given
                : throw new CrashInitramfsSourceException($"{Path.Combine(given, CaptureExecutable)}: no such file (--capture-dir names the directory of the published kds-capture)");
        }
        if (loaderDirectory is not null && File.Exists(Path.Combine(loaderDirectory, CaptureExecutable)))
            return loaderDirectory;
        string packaged = root.Resolve(PackagedCaptureDirectory);
        if (File.Exists(Path.Combine(packaged, CaptureExecutable)))
            return packaged;
        string beside = loaderDirectory is null ? "" : $"{loaderDirectory} or ";
        throw new CrashInitramfsSourceException($"found no kds-capture in {beside}{PackagedCaptureDirectory} (give its directory with --capture-dir, or --initrd)");
    }

    /// <summary>The request for the running kernel: its release, modules and config, capture.conf, and the target's modules.</summary>
    /// <exception cref="CrashInitramfsSourceException">capture.conf is missing, or the target is not attached.</exception>
    /// <exception cref="CaptureConfigurationException">capture.conf is malformed.</exception>
    public static CrashInitramfsRequest FromSystem(SystemRoot root, string captureDirectory)
    {
        ArgumentNullException.ThrowIfNull(root);
        string release = root.KernelRelease
            ?? throw new CrashInitramfsSourceException("/proc/sys/kernel/osrelease is unreadable, so the running release (and its modules) is unknown");
        string configurationPath = root.Resolve(CaptureConfiguration.DefaultPath);
        if (!File.Exists(configurationPath))
            throw new CrashInitramfsSourceException(
                $"{CaptureConfiguration.DefaultPath}: no such file; it names where dumps go, e.g. 'target = UUID=<file system UUID>' (see README.md), or give --initrd");
        CaptureConfiguration configuration = CaptureConfiguration.Parse(File.ReadAllText(configurationPath), CaptureConfiguration.DefaultPath);

        string device = FindTargetDevice(root, configuration.Target)
            ?? throw new CrashInitramfsSourceException(
                $"{CaptureConfiguration.DefaultPath}: target {configuration.Target} is not attached to this machine, so its drivers cannot be read from sysfs");
        List<string> modules = [.. BlockDeviceDrivers.ModulesFor(root.Resolve("/sys"), device)];
        if (configuration.Kind == TargetKind.Filesystem)
            modules.AddRange(BlockDeviceDrivers.ModulesForFileSystem(configuration.FileSystem).Where(m => !modules.Contains(m)));

        string kernelConfig = root.Resolve($"/boot/config-{release}");
        return new CrashInitramfsRequest
        {
            KernelRelease = release,
            ModulesDirectory = root.Resolve($"/lib/modules/{release}"),
            CaptureDirectory = captureDirectory,
            Configuration = configuration,
            Modules = modules,
            KernelConfig = File.Exists(kernelConfig) ? kernelConfig : null,
        };
    }

    /// <summary>The block device name (as /sys/class/block lists it) that <paramref name="target"/> names, or null.</summary>
    public static string? FindTargetDevice(SystemRoot root, string target)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(target);
        if (target.StartsWith('/'))
            return File.Exists(root.Resolve(target)) ? Path.GetFileName(target) : null;
        string blocks = root.Resolve("/sys/class/block");
        if (!Directory.Exists(blocks))
            return null;
        foreach (string entry in Directory.EnumerateFileSystemEntries(blocks).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(entry);
            if (Ext4Superblock.Identifies(root.Resolve("/dev/" + name), target))
                return name;
        }
        return null;
    }
}
