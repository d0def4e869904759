using System.Diagnostics;
using System.Runtime.InteropServices;
using KdumpSharp.Interop;

namespace KdumpSharp.Kexec;

/// <summary>Starting the loaded kernel.</summary>
public static class KexecReboot
{
    /// <summary>The directory systemd creates when it runs as PID 1 (sd_booted(3)).</summary>
    public const string SystemdRunDirectory = "/run/systemd/system";

    public static bool SystemdIsRunning(SystemRoot root) => root.Exists(SystemdRunDirectory);

    /// <summary>
    /// Flushes file systems (the kernel's kernel_kexec does not) and jumps into the loaded kernel
    /// with reboot(LINUX_REBOOT_CMD_KEXEC). Returns only on failure. Nothing is shut down:
    /// services get no chance to stop.
    /// </summary>
    public static void Now(SystemRoot root)
    {
        EnsureLoaded(root);
        LibC.Sync();
        if (LibC.Reboot(LibC.RebootCommandKexec) != 0)
            throw KexecErrors.Translate(Marshal.GetLastPInvokeError(), KexecOperation.Reboot, null, KexecStatus.Read(root), root);
        throw new KexecFailureException(KexecFailureKind.Failed, "reboot(LINUX_REBOOT_CMD_KEXEC) returned without rebooting");
    }

    /// <summary>
    /// Asks systemd to stop every service, unmount and then kexec (<c>systemctl kexec</c>, kexec.target).
    /// Returns once systemd has queued the job; the reboot follows.
    /// </summary>
    public static void ThroughSystemd(SystemRoot root, string systemctl = "systemctl")
    {
        EnsureLoaded(root);
        var start = new ProcessStartInfo(systemctl) { ArgumentList = { "kexec" }, RedirectStandardError = true };
        using Process process = Process.Start(start)
            ?? throw new KexecFailureException(KexecFailureKind.Failed, $"could not start {systemctl}");
        string error = process.StandardError.ReadToEnd().Trim();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new KexecFailureException(KexecFailureKind.Failed, $"systemctl kexec exited with {process.ExitCode}: {error}",
                hint: "use --force to reboot into the loaded kernel without a clean shutdown");
    }

    /// <summary>Refuses early, with a sentence, instead of letting reboot() fail with EINVAL or systemd fall back to a plain reboot.</summary>
    public static void EnsureLoaded(SystemRoot root)
    {
        if (KexecStatus.ParseFlag(root.ReadText("/sys/kernel/kexec_loaded")) != true)
            throw new KexecFailureException(KexecFailureKind.NothingLoaded, "no kernel is loaded for kexec (/sys/kernel/kexec_loaded is not 1)",
                hint: "run kds-loader load first");
    }
}
