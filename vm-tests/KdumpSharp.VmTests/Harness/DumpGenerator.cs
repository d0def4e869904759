using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// Makes one dump directory: boots the kernel under QEMU with <see cref="GuestImage"/>, lets
/// guest-init.sh crash it and copy /proc/vmcore to a disk, extracts the vmcore, then runs
/// makedumpfile and the dmesg tools on the host. Everything is written into the directory
/// given; <see cref="TestDumps"/> decides where that is and when it becomes visible.
/// </summary>
internal static partial class DumpGenerator
{
    public const string Makedumpfile = "/usr/bin/makedumpfile";
    public const string VmcoreDmesgTool = "/usr/sbin/vmcore-dmesg";

    /// <summary>The vmcore starts this far into the dump disk; the header line is at 0.</summary>
    private const long DumpDiskDataOffset = 1 << 20;

    /// <summary>The dump disk is RAM plus this, as /proc/vmcore adds headers and repeats the kernel text segment.</summary>
    private const long DumpDiskSlackBytes = 128L << 20;

    private static readonly TimeSpan ToolTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// --message-level 22 = common (2) + error (4) + report (16): the page-exclusion report
    /// without the progress bar's carriage returns.
    /// </summary>
    private static readonly string[] MessageLevel = ["--message-level", "22"];

    internal sealed record Variant(DumpVariant Kind, string File, string[] Arguments, bool ToStandardOutput);

    public static IReadOnlyList<Variant> Variants { get; } =
    [
        new(DumpVariant.KdumpZlib, "vmcore.kdump-zlib", ["-c", "-d", "31"], false),
        new(DumpVariant.KdumpLzo, "vmcore.kdump-lzo", ["-l", "-d", "31"], false),
        new(DumpVariant.KdumpUncompressed, "vmcore.kdump-raw", ["-d", "0"], false),
        new(DumpVariant.Flattened, "vmcore.flat", ["-F", "-c", "-d", "31"], true),
        new(DumpVariant.MakedumpfileElf, "vmcore.mdf-elf", ["-E", "-d", "31"], false),
    ];

    public static DumpManifest Generate(TestKernel kernel, DumpGuest guest, string cacheKey, string directory, string consoleLogPath)
    {
        var total = Stopwatch.StartNew();
        string marker = "kds-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

        var clock = Stopwatch.StartNew();
        GuestImage.Initramfs initramfs = GuestImage.BuildInitramfs(kernel, Path.Combine(directory, DumpFiles.Initramfs));
        double initramfsSeconds = clock.Elapsed.TotalSeconds;

        string payload = Path.Combine(directory, "payload.img");
        string dumpDisk = Path.Combine(directory, "dump.img");
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, initramfs.Path, guest.CaptureCommandLine);
        using (var disk = new FileStream(dumpDisk, FileMode.CreateNew, FileAccess.Write))
            disk.SetLength(((long)guest.MemoryMiB << 20) + DumpDiskSlackBytes); // sparse until written

        var options = new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = initramfs.Path,
            CommandLine = guest.CommandLine(marker),
            ConsoleLogPath = consoleLogPath,
            MemoryMiB = guest.MemoryMiB,
            Cpus = guest.Cpus,
            Disks = [new QemuDisk(payload, ReadOnly: true), new QemuDisk(dumpDisk, ReadOnly: false)],
            Timeout = TestDumps.QemuTimeoutFor(guest),
        };
        TestContext.Progress.WriteLine($"VM tests: booting {kernel.Release} to make dumps (console: {consoleLogPath})");
        QemuRun run = QemuMachine.Run(options);
        File.Copy(consoleLogPath, Path.Combine(directory, DumpFiles.ConsoleLog));

        if (run.Lines.FirstOrDefault(l => l.Text.StartsWith("KDS-FAIL:", StringComparison.Ordinal)) is ConsoleLine failure)
            throw new QemuException(run.Describe($"the guest failed: {failure.Text}"));
        string release = GuestValue(run, "KDS-RELEASE ");
        if (release != kernel.Release)
            throw new QemuException(run.Describe($"the guest runs {release}, not {kernel.Release}"));
        IReadOnlyList<string> processes = ProcessList(run);
        File.WriteAllLines(Path.Combine(directory, DumpFiles.ProcessList), processes);

        clock.Restart();
        long vmcoreBytes = ExtractVmcore(run, dumpDisk, Path.Combine(directory, DumpFiles.ElfVmcore));
        double extractSeconds = clock.Elapsed.TotalSeconds;
        File.Delete(dumpDisk);
        File.Delete(payload);

        // The tools run in the dump directory on relative names, so their messages and the
        // manifest name files, not the temporary directory they were made in.
        var makedumpfile = Variants.Select(v => RunMakedumpfile(v, directory)).ToList();
        ToolRun vmcoreDmesg = RunTool(directory, DumpFiles.VmcoreDmesg, VmcoreDmesgTool, [DumpFiles.ElfVmcore], toStandardOutput: true);
        ToolRun makedumpfileDmesg = RunTool(directory, DumpFiles.MakedumpfileDmesg, Makedumpfile,
            ["--dump-dmesg", DumpFiles.ElfVmcore, DumpFiles.MakedumpfileDmesg], toStandardOutput: false);

        var timings = new DumpTimings(
            InitramfsBuildSeconds: initramfsSeconds,
            BootToInitSeconds: At(run, "Run /init as init process", 1),
            InitToCrashSeconds: At(run, "sysrq: Trigger a crash", 1) - At(run, "Run /init as init process", 1),
            CrashToCaptureInitSeconds: At(run, "Run /init as init process", 2) - At(run, "sysrq: Trigger a crash", 1),
            CaptureInitToCopySeconds: At(run, "KDS-COPY-BEGIN", 1) - At(run, "Run /init as init process", 2),
            CopySeconds: At(run, "KDS-COPY-END", 1) - At(run, "KDS-COPY-BEGIN", 1),
            QemuSeconds: run.Elapsed.TotalSeconds,
            ExtractSeconds: extractSeconds,
            MakedumpfileSeconds: makedumpfile.Sum(m => m.Seconds),
            TotalSeconds: total.Elapsed.TotalSeconds);

        return new DumpManifest(
            TestDumps.HarnessVersion, cacheKey, kernel.Package, release, marker, guest, QemuMachine.Accelerator,
            QemuMachine.Arguments(options).Select(a => a.Replace(directory, "<dir>", StringComparison.Ordinal)).ToList(),
            initramfs.CompressedBytes, initramfs.UncompressedBytes, initramfs.Files,
            initramfs.Modules.LoadOrder.Select(m => m.RelativePath).ToList(),
            vmcoreBytes, processes, makedumpfile, vmcoreDmesg, makedumpfileDmesg, timings, DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// Reads the header line guest-init.sh writes last ("KDSVMCORE1 &lt;bytes&gt; &lt;dd status&gt;")
    /// and copies exactly that many bytes from 1 MiB into <paramref name="target"/>.
    /// </summary>
    private static long ExtractVmcore(QemuRun run, string dumpDisk, string target)
    {
        using var disk = new FileStream(dumpDisk, FileMode.Open, FileAccess.Read);
        byte[] head = new byte[512];
        disk.ReadExactly(head);
        int newline = Array.IndexOf(head, (byte)'\n');
        string header = newline < 0 ? "" : Encoding.ASCII.GetString(head, 0, newline);
        Match match = DumpHeader().Match(header);
        if (!match.Success)
            throw new QemuException(run.Describe("the dump disk has no KDSVMCORE1 header: the crash kernel did not finish the copy"));
        long bytes = long.Parse(match.Groups[1].Value);
        if (match.Groups[2].Value != "0")
            throw new QemuException(run.Describe($"dd of /proc/vmcore exited with {match.Groups[2].Value}"));
        if (DumpDiskDataOffset + bytes > disk.Length)
            throw new QemuException(run.Describe($"the header claims {bytes} bytes, more than the {disk.Length}-byte dump disk holds"));

        disk.Position = DumpDiskDataOffset;
        using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
        {
            byte[] buffer = new byte[1 << 20];
            long remaining = bytes;
            while (remaining > 0)
            {
                int chunk = (int)Math.Min(buffer.Length, remaining);
                disk.ReadExactly(buffer, 0, chunk);
                output.Write(buffer, 0, chunk);
                remaining -= chunk;
            }
        }
        return bytes;
    }

    /// <summary>
    /// Runs one variant; if the requested dump level fails (makedumpfile 1.7.2 predates 6.12),
    /// records that and tries <c>-d 1</c>, so the suite still gets a file of the format.
    /// </summary>
    private static MakedumpfileRun RunMakedumpfile(Variant variant, string directory)
    {
        string output = Path.Combine(directory, variant.File);
        string log = variant.File + ".log";
        (HostProcess.Result first, bool ok) = Attempt(variant.Arguments);
        File.WriteAllText(Path.Combine(directory, log), first.Output + "\n");
        if (ok)
            return new MakedumpfileRun(variant.Kind, variant.File, variant.Arguments, variant.Arguments, null, log,
                new FileInfo(output).Length, first.Elapsed.TotalSeconds);

        string failure = $"exit {first.ExitCode}: {first.Output}";
        // Only levels that classify pages by struct page (2, 4, 8, 16) depend on the kernel's
        // layout; -d 1 (zero pages) and -d 0 have nothing simpler to fall back to.
        int level = Array.IndexOf(variant.Arguments, "-d");
        if (level < 0 || int.Parse(variant.Arguments[level + 1]) <= 1)
            return new MakedumpfileRun(variant.Kind, null, variant.Arguments, null, failure, log, 0, first.Elapsed.TotalSeconds);

        string[] fallback = [.. variant.Arguments];
        fallback[level + 1] = "1";
        (HostProcess.Result second, bool fallbackOk) = Attempt(fallback);
        string fallbackLog = variant.File + ".fallback.log";
        File.WriteAllText(Path.Combine(directory, fallbackLog), second.Output + "\n");
        double seconds = first.Elapsed.TotalSeconds + second.Elapsed.TotalSeconds;
        return fallbackOk
            ? new MakedumpfileRun(variant.Kind, variant.File, variant.Arguments, fallback, failure, fallbackLog, new FileInfo(output).Length, seconds)
            : new MakedumpfileRun(variant.Kind, null, variant.Arguments, null, $"{failure}\nfallback {string.Join(' ', fallback)}: exit {second.ExitCode}: {second.Output}", fallbackLog, 0, seconds);

        (HostProcess.Result Result, bool Ok) Attempt(string[] arguments)
        {
            File.Delete(output);
            string[] command = variant.ToStandardOutput
                ? [.. MessageLevel, .. arguments, DumpFiles.ElfVmcore]
                : [.. MessageLevel, .. arguments, DumpFiles.ElfVmcore, variant.File];
            HostProcess.Result result = HostProcess.Run(Makedumpfile, command, directory, ToolTimeout, variant.ToStandardOutput ? variant.File : null);
            bool ok = result.ExitCode == 0 && File.Exists(output) && new FileInfo(output).Length > 0;
            if (!ok)
                File.Delete(output);
            return (result, ok);
        }
    }

    private static ToolRun RunTool(string directory, string file, string tool, string[] arguments, bool toStandardOutput)
    {
        HostProcess.Result result = HostProcess.Run(tool, arguments, directory, ToolTimeout, toStandardOutput ? file : null);
        return new ToolRun(file, [tool, .. arguments], result.ExitCode, result.Output, result.Elapsed.TotalSeconds);
    }

    /// <summary>The lines between KDS-PS-BEGIN and KDS-PS-END, without kernel messages that interleaved.</summary>
    private static IReadOnlyList<string> ProcessList(QemuRun run)
    {
        var lines = run.Lines.Select(l => l.Text).ToList();
        int begin = lines.IndexOf("KDS-PS-BEGIN");
        int end = lines.IndexOf("KDS-PS-END");
        if (begin < 0 || end < begin)
            throw new QemuException(run.Describe("the console has no KDS-PS-BEGIN … KDS-PS-END block"));
        return lines.Skip(begin + 1).Take(end - begin - 1).Where(l => !KernelMessage().IsMatch(l)).ToList();
    }

    private static string GuestValue(QemuRun run, string prefix)
    {
        ConsoleLine line = run.Lines.FirstOrDefault(l => l.Text.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new QemuException(run.Describe($"the guest printed no '{prefix.Trim()}' line"));
        return line.Text[prefix.Length..].Trim();
    }

    private static double At(QemuRun run, string text, int occurrence) =>
        (run.Find(text, occurrence) ?? throw new QemuException(run.Describe($"no console line #{occurrence} containing '{text}'"))).At.TotalSeconds;

    [GeneratedRegex(@"^KDSVMCORE1 (\d+) (\d+)$")]
    private static partial Regex DumpHeader();

    [GeneratedRegex(@"^\[\s*\d+\.\d+\]")]
    private static partial Regex KernelMessage();
}
