using System.Diagnostics;
using System.Text;
using KdumpSharp.Analysis;
using KdumpSharp.Capture;
using KdumpSharp.Dumps;
using KdumpSharp.Initramfs;
using KdumpSharp.Interop;
using KdumpSharp.IO;
using KdumpSharp.Kernel.Printk;

namespace KdumpSharp.CrashEnvironment;

/// <summary>
/// kds-capture as the crash kernel's init (PID 1): mounts /proc, /sys and devtmpfs, loads the
/// target's modules, waits for the target, captures onto it, and then the final action; any
/// failure runs the failure action instead. Every wait has a timeout, so the machine never hangs
/// in the crash kernel. What it does is printed on the console, one "kds-capture:" line per step.
/// </summary>
/// <remarks>
/// PID 1 must never exit (the kernel panics with "Attempted to kill init"), so <see cref="Run"/>
/// returns the action and <see cref="Perform"/> carries it out and does not return.
/// </remarks>
public sealed class CrashInit(TextWriter console, Func<ulong, IProgress<double>?>? progress = null)
{
    /// <summary>Where a file system target is mounted.</summary>
    public const string MountPoint = "/mnt/target";

    private const string ShellPath = "/bin/sh";
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly CaptureLog _log = new(console);
    private readonly Lock _actionGate = new();
    private bool _actionTaken;

    /// <summary>Whether this process is PID 1, the kernel's init.</summary>
    public static bool IsProcessOne => LinuxSystem.GetProcessId() == 1;

    /// <summary>Runs the capture as configured and returns the action to take next (final or failure).</summary>
    public CrashAction Run(string configurationPath = CaptureConfiguration.DefaultPath)
    {
        CrashAction failureAction = CrashAction.Reboot;
        try
        {
            MountPseudoFileSystems();
            CaptureConfiguration configuration = CaptureConfiguration.Parse(File.ReadAllText(configurationPath), configurationPath);
            failureAction = configuration.FailureAction;
            _log.Write($"target {configuration.Target} ({(configuration.Kind == TargetKind.Raw ? "raw" : configuration.FileSystem)}), final action {configuration.FinalAction}, failure action {configuration.FailureAction}");
            using Timer? watchdog = StartWatchdog(configuration);
            LoadModules(CrashInitramfsBuilder.ModuleListPath);
            string device = WaitForDevice(configuration.Target, configuration.DeviceTimeout);
            Capture(configuration, device);
            LinuxSystem.Sync();
            _log.Write($"capture done; {configuration.FinalAction}");
            return TakeAction(configuration.FinalAction) ? configuration.FinalAction : WaitForever();
        }
        catch (Exception e)
        {
            _log.Write($"FAILED: {e.Message}");
            PrintCrashedKernelLog();
            LinuxSystem.Sync();
            _log.Write($"failure action: {failureAction}");
            return TakeAction(failureAction) ? failureAction : WaitForever();
        }
    }

    /// <summary>Syncs and carries out <paramref name="action"/> through reboot(2); never returns.</summary>
    public static void Perform(CrashAction action, TextWriter console)
    {
        LinuxSystem.Sync();
        if (action == CrashAction.Shell)
        {
            if (File.Exists(ShellPath))
            {
                LinuxSystem.Exec(ShellPath, [ShellPath, null]);
                console.WriteLine($"kds-capture: cannot run {ShellPath}: {LinuxSystem.LastError()}; rebooting");
            }
            else
                console.WriteLine($"kds-capture: no {ShellPath} in this image (built without a debug shell); rebooting");
            action = CrashAction.Reboot;
        }
        console.Flush();
        int command = action switch
        {
            CrashAction.PowerOff => LinuxSystem.RebootPowerOff,
            CrashAction.Halt => LinuxSystem.RebootHalt,
            _ => LinuxSystem.RebootRestart,
        };
        LinuxSystem.Reboot(command);
        console.WriteLine($"kds-capture: reboot(2) failed: {LinuxSystem.LastError()}");
        Thread.Sleep(Timeout.Infinite);
    }

    /// <summary>
    /// The first caller (the capture, or the watchdog when the capture overruns) decides the action;
    /// the other then only waits for it.
    /// </summary>
    private bool TakeAction(CrashAction action)
    {
        lock (_actionGate)
        {
            if (_actionTaken)
                return false;
            _actionTaken = true;
            return true;
        }
    }

    private static CrashAction WaitForever()
    {
        Thread.Sleep(Timeout.Infinite);
        return CrashAction.Reboot;
    }

    private Timer? StartWatchdog(CaptureConfiguration configuration)
    {
        if (configuration.CaptureTimeout == TimeSpan.Zero)
            return null;
        return new Timer(_ =>
        {
            if (!TakeAction(configuration.FailureAction))
                return;
            _log.Write($"FAILED: the capture took longer than {configuration.CaptureTimeout.TotalSeconds:0} s; failure action: {configuration.FailureAction}");
            Perform(configuration.FailureAction, console);
        }, null, configuration.CaptureTimeout, Timeout.InfiniteTimeSpan);
    }

    private void MountPseudoFileSystems()
    {
        foreach ((string type, string target) in new[] { ("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev") })
        {
            Directory.CreateDirectory(target);
            if (LinuxSystem.Mount(type, target, type, 0, null) != 0 && LinuxSystem.LastErrno() != LinuxSystem.EBUSY)
                throw new CrashEnvironmentException($"mount -t {type} {target}: {LinuxSystem.LastError()}");
        }
        _log.Write("mounted /proc, /sys, /dev");
    }

    /// <summary>finit_module for each listed file, compressed ones with MODULE_INIT_COMPRESSED_FILE; one already loaded is fine.</summary>
    private void LoadModules(string listPath)
    {
        if (!File.Exists(listPath))
            return;
        int loaded = 0;
        foreach (string line in File.ReadLines(listPath))
        {
            string module = line.Trim();
            if (module.Length == 0)
                continue;
            bool compressed = module.EndsWith(".ko.xz", StringComparison.Ordinal) || module.EndsWith(".ko.zst", StringComparison.Ordinal)
                || module.EndsWith(".ko.gz", StringComparison.Ordinal);
            using var file = new FileStream(module, FileMode.Open, FileAccess.Read);
            int result = LinuxSystem.FinitModule((int)file.SafeFileHandle.DangerousGetHandle(), "",
                compressed ? LinuxSystem.ModuleInitCompressedFile : 0);
            if (result != 0 && LinuxSystem.LastErrno() != LinuxSystem.EEXIST)
                throw new CrashEnvironmentException($"finit_module {module}: {LinuxSystem.LastError()}");
            loaded++;
        }
        _log.Write($"loaded {loaded} modules");
    }

    /// <summary>Polls until the target's block device exists (a path) or carries the file system named (UUID=, LABEL=).</summary>
    private string WaitForDevice(string target, TimeSpan timeout)
    {
        _log.Write($"waiting up to {timeout.TotalSeconds:0} s for {target}");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (FindDevice(target) is string device)
            {
                _log.Write($"found {target}: {device} after {clock.Elapsed.TotalSeconds:0.0} s");
                return device;
            }
            if (clock.Elapsed >= timeout)
                throw new CrashEnvironmentException($"target {target} did not appear within {timeout.TotalSeconds:0} s");
            Thread.Sleep(PollInterval);
        }
    }

    private static string? FindDevice(string target)
    {
        if (target.StartsWith('/'))
            return File.Exists(target) ? target : null;
        if (!Directory.Exists("/sys/class/block"))
            return null;
        foreach (string entry in Directory.EnumerateFileSystemEntries("/sys/class/block").Order(StringComparer.Ordinal))
        {
            string device = "/dev/" + Path.GetFileName(entry);
            if (Ext4Superblock.Identifies(device, target))
                return device;
        }
        return null;
    }

    private void Capture(CaptureConfiguration configuration, string device)
    {
        var options = new CaptureOptions
        {
            Format = configuration.Format,
            Compression = configuration.Compression,
            DumpLevel = configuration.DumpLevel,
        };
        if (configuration.Kind == TargetKind.Raw)
        {
            using (var stream = new FileStream(device, FileMode.Open, FileAccess.Write, FileShare.None, 1 << 20))
            {
                CaptureRunner.Stream(options, stream, _log, progress);
                stream.Flush(flushToDisk: true);
            }
            _log.Write($"dump written to {device} from offset 0");
            return;
        }
        Directory.CreateDirectory(MountPoint);
        if (LinuxSystem.Mount(device, MountPoint, configuration.FileSystem, 0, null) != 0)
            throw new CrashEnvironmentException($"mount -t {configuration.FileSystem} {device} {MountPoint}: {LinuxSystem.LastError()}");
        _log.Write($"mounted {device} on {MountPoint}");
        CaptureResult result = CaptureRunner.Run(options with { Directory = MountPoint + configuration.Path }, _log, progress);
        LinuxSystem.Sync();
        if (LinuxSystem.Unmount(MountPoint) != 0)
            _log.Write($"umount {MountPoint}: {LinuxSystem.LastError()} (synced; continuing)");
        if (result.Outcome != CaptureOutcome.Complete)
            throw new CrashEnvironmentException($"the dump is incomplete ({result.Outcome}): {result.DumpPath}");
    }

    /// <summary>
    /// When the capture failed, the crashed kernel's log is printed on the console between two
    /// marker lines, so a serial console or BMC log keeps it even with no target to write to.
    /// </summary>
    private void PrintCrashedKernelLog()
    {
        try
        {
            if (!File.Exists("/proc/vmcore"))
                return;
            using KernelDump dump = new(DumpFile.Open(new FileReadSource("/proc/vmcore")));
            using var text = new MemoryStream();
            DmesgFormatter.Write(text, dump.Log.Records);
            console.WriteLine("kds-capture: ---- crashed kernel's log (vmcore-dmesg) ----");
            console.Write(Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length));
            console.WriteLine("kds-capture: ---- end of crashed kernel's log ----");
        }
        catch (Exception e)
        {
            _log.Write($"the crashed kernel's log could not be printed either: {e.Message}");
        }
    }
}

/// <summary>A step of the crash environment failed (mount, module load, target missing).</summary>
public sealed class CrashEnvironmentException(string message) : Exception(message);
