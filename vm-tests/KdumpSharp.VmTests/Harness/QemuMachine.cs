using System.Diagnostics;
using System.Text;

namespace KdumpSharp.VmTests.Harness;

/// <summary>A raw disk image attached as a virtio-blk device, in the order given (vda, vdb, …).</summary>
public sealed record QemuDisk(string Path, bool ReadOnly);

/// <summary>What to boot and how.</summary>
public sealed record QemuOptions
{
    public required string Kernel { get; init; }
    public required string Initrd { get; init; }
    public required string CommandLine { get; init; }

    /// <summary>Where the serial console is written, byte for byte.</summary>
    public required string ConsoleLogPath { get; init; }

    public int MemoryMiB { get; init; } = 320;
    public int Cpus { get; init; } = 2;
    public IReadOnlyList<QemuDisk> Disks { get; init; } = [];

    /// <summary>QEMU is killed when the guest runs longer than this.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Called with each console line as it arrives (the demo streams the guest's console); on the reading thread.</summary>
    public Action<string>? OnLine { get; init; }

    /// <summary>
    /// For a guest that is expected to hang (a purgatory that halts): once a console line contains
    /// this text, QEMU runs <see cref="StopGrace"/> longer, is killed, and the run counts as done.
    /// </summary>
    public string? StopAfterLine { get; init; }

    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>One console line and when the host read it, counted from QEMU's start.</summary>
public sealed record ConsoleLine(TimeSpan At, string Text);

/// <summary>A finished QEMU run.</summary>
public sealed record QemuRun(int ExitCode, TimeSpan Elapsed, string ConsoleLogPath, IReadOnlyList<ConsoleLine> Lines)
{
    /// <summary>Lines quoted in failure messages.</summary>
    public const int TailLines = 40;

    /// <summary>The <paramref name="occurrence"/>-th line containing <paramref name="text"/>, or null.</summary>
    public ConsoleLine? Find(string text, int occurrence = 1)
    {
        foreach (ConsoleLine line in Lines)
        {
            if (line.Text.Contains(text, StringComparison.Ordinal) && --occurrence == 0)
                return line;
        }
        return null;
    }

    /// <summary>A failure message: the problem, the log file and the last console lines.</summary>
    public string Describe(string problem) => QemuMachine.Describe(problem, ConsoleLogPath, Lines);
}

/// <summary>The guest failed: QEMU could not start, ran too long, or the guest reported an error.</summary>
public sealed class QemuException(string message) : Exception(message);

/// <summary>
/// Runs qemu-system-x86_64 with a direct kernel boot, the serial console on stdout (copied to a
/// log file and split into timestamped lines), virtio-blk raw disks and -no-reboot, so a guest
/// reboot, a panic with panic=-1 or a poweroff all end the process.
/// </summary>
/// <remarks>
/// TCG by default: nested KVM hangs on the CI hosts. KDS_QEMU_KVM=1 switches to KVM with the
/// host CPU. Under TCG the CPU is qemu64: it lacks LA57, so the guests use 4-level paging like
/// most real machines whatever this QEMU's "max" model offers, and the Debian kernels boot on
/// it in seconds. The pc machine (i440FX) is enough: the disks are virtio-blk on plain PCI.
/// TCG runs every vCPU on one host thread (thread=single). With one thread per vCPU, a Debian
/// 6.12 guest on a busy host once died at boot with "Oops: int3" in sched_clock_cpu: the other
/// vCPU ran the int3 that text_poke_bp plants while the kernel patched a static key
/// (arch/x86/kernel/alternative.c), a cross-vCPU code-modification race of multi-threaded TCG,
/// before any test code ran. One thread interleaves the vCPUs, so they see code writes at once.
/// </remarks>
public static class QemuMachine
{
    public const string Executable = "/usr/bin/qemu-system-x86_64";

    public static bool UseKvm => Environment.GetEnvironmentVariable("KDS_QEMU_KVM") == "1";

    /// <summary>The accelerator and CPU model in use, for cache keys and reports.</summary>
    public static string Accelerator => UseKvm ? "kvm,cpu=host" : "tcg,thread=single,cpu=qemu64";

    public static IReadOnlyList<string> Arguments(QemuOptions options)
    {
        var args = new List<string>
        {
            "-machine", "pc",
            "-accel", UseKvm ? "kvm" : "tcg,thread=single",
            "-cpu", UseKvm ? "host" : "qemu64",
            "-m", $"{options.MemoryMiB}M",
            "-smp", options.Cpus.ToString(),
            // No default NIC, VGA or floppy: less to probe, nothing to time out on.
            "-nodefaults", "-nographic", "-serial", "stdio",
            "-no-reboot",
            "-kernel", options.Kernel,
            "-initrd", options.Initrd,
            "-append", options.CommandLine,
        };
        foreach (QemuDisk disk in options.Disks)
        {
            args.Add("-drive");
            // cache=unsafe: the host file only has to be complete once QEMU exits.
            args.Add($"file={disk.Path},format=raw,if=virtio,{(disk.ReadOnly ? "readonly=on" : "cache=unsafe")}");
        }
        return args;
    }

    /// <summary>Boots the guest and waits for QEMU to exit.</summary>
    /// <exception cref="QemuException">QEMU failed to start, exited with an error, or was killed at the timeout.</exception>
    public static QemuRun Run(QemuOptions options)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.ConsoleLogPath))!);
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in Arguments(options))
            start.ArgumentList.Add(argument);

        var lines = new List<ConsoleLine>();
        var clock = Stopwatch.StartNew();
        using var log = new FileStream(options.ConsoleLogPath, FileMode.Create, FileAccess.Write, FileShare.Read);
        using Process process = Process.Start(start) ?? throw new QemuException($"could not start {Executable}");
        try
        {
            // The guest never reads the console; EOF on stdin keeps QEMU from waiting for a terminal.
            process.StandardInput.Close();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            Task console = Task.Run(() => Pump(process.StandardOutput.BaseStream, log, lines, clock, options.OnLine));
            bool exited = WaitOrStop(process, options, lines, clock, out bool stopped);
            if (!exited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            console.Wait();
            stderr.Wait();
            log.Flush();
            var run = new QemuRun(process.ExitCode, clock.Elapsed, options.ConsoleLogPath, Snapshot(lines));
            if (stopped)
                return run;
            if (!exited)
                throw new QemuException(run.Describe($"QEMU killed after the {options.Timeout.TotalSeconds:0} s timeout"));
            if (process.ExitCode != 0)
                throw new QemuException(run.Describe($"QEMU exited with {process.ExitCode}: {stderr.Result.Trim()}"));
            return run;
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Waits for QEMU to exit; false on timeout, or with <paramref name="stopped"/> set once the stop line's grace has run out.</summary>
    private static bool WaitOrStop(Process process, QemuOptions options, List<ConsoleLine> lines, Stopwatch clock, out bool stopped)
    {
        stopped = false;
        if (options.StopAfterLine is not { } stopLine)
            return process.WaitForExit(options.Timeout);
        while (clock.Elapsed < options.Timeout)
        {
            if (process.WaitForExit(TimeSpan.FromSeconds(1)))
                return true;
            ConsoleLine? seen;
            lock (lines)
                seen = lines.FirstOrDefault(l => l.Text.Contains(stopLine, StringComparison.Ordinal));
            if (seen is not null && clock.Elapsed - seen.At >= options.StopGrace)
            {
                stopped = true;
                return false;
            }
        }
        return false;
    }

    internal static string Describe(string problem, string consoleLogPath, IReadOnlyList<ConsoleLine> lines)
    {
        var text = new StringBuilder();
        text.AppendLine(problem);
        text.AppendLine($"console log: {consoleLogPath}");
        text.AppendLine($"last {Math.Min(QemuRun.TailLines, lines.Count)} console lines:");
        foreach (ConsoleLine line in lines.Skip(Math.Max(0, lines.Count - QemuRun.TailLines)))
            text.AppendLine($"  {line.At.TotalSeconds,7:0.0}s | {line.Text}");
        return text.ToString();
    }

    private static List<ConsoleLine> Snapshot(List<ConsoleLine> lines)
    {
        lock (lines)
            return [.. lines];
    }

    /// <summary>Copies the console to the log and splits it into lines (CR dropped, as the serial console sends CRLF).</summary>
    private static void Pump(Stream console, FileStream log, List<ConsoleLine> lines, Stopwatch clock, Action<string>? onLine)
    {
        byte[] buffer = new byte[16384];
        var current = new MemoryStream();
        int read;
        while ((read = console.Read(buffer, 0, buffer.Length)) > 0)
        {
            log.Write(buffer, 0, read);
            for (int i = 0; i < read; i++)
            {
                byte b = buffer[i];
                if (b == (byte)'\n')
                {
                    Add(lines, clock, current, onLine);
                    current.SetLength(0);
                }
                else if (b != (byte)'\r')
                    current.WriteByte(b);
            }
        }
        if (current.Length > 0)
            Add(lines, clock, current, onLine);
    }

    // Not onLine?.Invoke(Add(...)): C# skips evaluating the arguments when onLine is null.
    private static void Add(List<ConsoleLine> lines, Stopwatch clock, MemoryStream current, Action<string>? onLine)
    {
        var line = new ConsoleLine(clock.Elapsed, Encoding.UTF8.GetString(current.GetBuffer(), 0, (int)current.Length));
        lock (lines)
            lines.Add(line);
        onLine?.Invoke(line.Text);
    }
}
