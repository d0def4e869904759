using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench.Inputs;

/// <summary>How the realistic guest's memory is filled before the panic. Every field is part of the cache key.</summary>
/// <param name="MemoryMiB">Guest RAM.</param>
/// <param name="CorpusMiB">The file on the ext4 disk that <c>cat</c> reads into the page cache.</param>
/// <param name="AnonymousMiB">The buffer of a dd that stays blocked on a pipe nobody reads: anonymous memory alive at the panic.</param>
/// <param name="FreedMiB">The buffer of a dd that fills it and exits: free pages that still hold data.</param>
internal sealed record MemoryMix(int MemoryMiB = 4096, int CorpusMiB = 1024, int AnonymousMiB = 768, int FreedMiB = 1024)
{
    public DumpGuest Guest => new() { MemoryMiB = MemoryMiB };
}

/// <summary>What the realistic guest reported and how long it took; manifest.json of its cache directory.</summary>
internal sealed record RealisticManifest(
    string CacheKey, string KernelRelease, MemoryMix Mix, string Accelerator, IReadOnlyList<string> CorpusSources, long CorpusBytes,
    IReadOnlyDictionary<string, string> PhaseSeconds, IReadOnlyList<string> MeminfoBeforeMix, IReadOnlyList<string> MeminfoAtPanic,
    IReadOnlyList<string> AnonymousProcess, long VmcoreBytes, double GeneratorSeconds, DateTimeOffset Made);

/// <summary>
/// A multi-gigabyte ELF vmcore of a Debian 6.1 guest whose memory holds a realistic mix, made
/// with the VM harness's pieces (<see cref="GuestImage"/>'s init script and payload disk,
/// <see cref="QemuMachine"/>) and cached under &lt;cache&gt;/dumps/realistic-&lt;release&gt;-&lt;key&gt;/.
/// </summary>
/// <remarks>
/// The harness's guest-init.sh arms the crash kernel, panics and, in the crash kernel, copies
/// /proc/vmcore to the dump disk. This generator inserts a workload into it just before the
/// panic, on a third disk (ext4, read-only) holding a corpus of real files:
/// <list type="number">
/// <item>page cache: <c>cat</c> of the corpus file (kernel modules and shared libraries: ELF code and data, compressible);</item>
/// <item>anonymous memory: <c>dd bs=N count=1 | sleep</c>: dd fills its N-byte buffer and then blocks
///   writing to a pipe that sleep never reads, so the buffer is resident and anonymous at the panic;</item>
/// <item>free pages with old data: a dd that fills a buffer from the corpus and exits; the kernel does
///   not clear pages on free (CONFIG_INIT_ON_FREE_DEFAULT_ON is off in Debian's config), so they keep it;</item>
/// <item>the rest: pages never touched since boot, zero.</item>
/// </list>
/// /proc/meminfo is printed before the mix and at the panic, and kept in the manifest.
/// Only one realistic dump is kept: making one deletes the others (each is ~4 GB).
/// </remarks>
internal static partial class RealisticDump
{
    /// <summary>Bump when generation changes in a way the other inputs do not capture.</summary>
    private const int GeneratorVersion = 1;

    private const string Prefix = "realistic-";

    /// <summary>The harness's init script gets the workload inserted before this line (its user process and the panic).</summary>
    private const string Anchor = "# A user process besides init";

    /// <summary>Where the corpus comes from, in this order, until it is big enough.</summary>
    private static IReadOnlyList<string> CorpusRoots => [TestKernel.Debian61.ModulesDirectory, "/usr/lib/x86_64-linux-gnu", "/usr/share"];

    /// <summary>
    /// Modules the workload needs besides the harness's virtio disk drivers; ext4 brings jbd2,
    /// mbcache and crc16. 6.1's ext4_fill_super fails the mount when no "crc32c" shash exists
    /// (modules.softdep's "ext4 pre: crypto-crc32c"), and qemu64 has no SSE4.2 for crc32c-intel.
    /// </summary>
    private static readonly string[] Modules = [.. GuestImage.Modules, "crc32c_generic", "ext4"];

    /// <summary>Busybox applets the workload calls besides the harness's.</summary>
    private static readonly string[] Applets = [.. GuestImage.Applets, "pidof", "grep"];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The cached dump for <paramref name="mix"/>: its directory holds vmcore.elf and manifest.json.</summary>
    public static (string Vmcore, RealisticManifest Manifest) Get(MemoryMix mix, Action<string> progress)
    {
        TestKernel kernel = TestKernel.Debian61.EnsureInstalled();
        IReadOnlyList<FileInfo> corpus = CorpusFiles(mix.CorpusMiB);
        string key = CacheKey(kernel, mix, corpus);
        string directory = Path.Combine(TestDumps.DumpsRoot, $"{Prefix}{kernel.Release}-{key}");
        string manifestPath = Path.Combine(directory, "manifest.json");
        if (!File.Exists(manifestPath))
        {
            // On a fresh machine no harness dump has been made yet, so the cache root may not exist.
            Directory.CreateDirectory(TestDumps.DumpsRoot);
            foreach (string other in Directory.GetDirectories(TestDumps.DumpsRoot, Prefix + "*"))
            {
                progress($"deleting the previous realistic dump {other} (only one is kept)");
                Directory.Delete(other, recursive: true);
            }
            string temporary = $"{directory}.tmp-{Environment.ProcessId}";
            Directory.CreateDirectory(temporary);
            try
            {
                RealisticManifest made = Generate(kernel, mix, corpus, key, temporary, progress);
                File.WriteAllText(Path.Combine(temporary, "manifest.json"), JsonSerializer.Serialize(made, Json));
                Directory.Move(temporary, directory);
            }
            catch
            {
                Directory.Delete(temporary, recursive: true);
                throw;
            }
        }
        RealisticManifest manifest = JsonSerializer.Deserialize<RealisticManifest>(File.ReadAllText(manifestPath), Json)
            ?? throw new InvalidDataException($"{manifestPath} is empty");
        return (Path.Combine(directory, "vmcore.elf"), manifest);
    }

    /// <summary>The report's paragraph on the dump: how it was made, the mix, the phases' times and /proc/meminfo at the panic.</summary>
    public static string Describe(RealisticManifest m)
    {
        var md = new StringBuilder();
        md.AppendLine($"The dump is the realistic one (`kds-bench realistic-dump`, bench/KdumpSharp.Bench/Inputs/RealisticDump.cs): Debian {m.KernelRelease}, "
            + $"{m.Mix.MemoryMiB} MiB guest, QEMU {m.Accelerator}, made {m.Made:yyyy-MM-dd HH:mm} UTC in {m.GeneratorSeconds:0} s, key {m.CacheKey}. Before the panic the guest:");
        md.AppendLine();
        md.AppendLine($"- page cache: `cat` of a {m.CorpusBytes >> 20} MiB file on an ext4 disk: the files of {string.Join(", ", m.CorpusSources.Select(s => $"`{s}`"))}, in that order and in path order, concatenated until it is full");
        md.AppendLine($"- anonymous memory alive at the panic: `dd bs={m.Mix.AnonymousMiB}M count=1 | sleep` (dd filled its buffer from that file and blocks on a pipe nobody reads); dd's status: {string.Join(", ", m.AnonymousProcess.Select(l => l.Replace('\t', ' ')))}");
        md.AppendLine($"- free pages holding old data: `dd bs={m.Mix.FreedMiB}M count=1 of=/dev/null` from that file, which exited (Debian's kernel does not clear freed pages)");
        md.AppendLine("- the rest: pages untouched since boot (zero)");
        md.AppendLine();
        md.AppendLine($"Time in the generator (s): {string.Join(", ", m.PhaseSeconds.Select(p => $"{p.Key} {p.Value}"))}.");
        md.AppendLine();
        md.AppendLine("/proc/meminfo of the guest before the mix, and at the panic:");
        md.AppendLine();
        md.AppendLine("| field | before the mix | at the panic |");
        md.AppendLine("| --- | ---: | ---: |");
        Dictionary<string, string> before = Fields(m.MeminfoBeforeMix);
        foreach ((string name, string value) in Fields(m.MeminfoAtPanic))
            md.AppendLine($"| {name} | {before.GetValueOrDefault(name, "")} | {value} |");
        return md.ToString().TrimEnd();

        static Dictionary<string, string> Fields(IEnumerable<string> lines) =>
            lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0].Trim(), p => p[1].Trim());
    }

    private static RealisticManifest Generate(TestKernel kernel, MemoryMix mix, IReadOnlyList<FileInfo> corpus, string key, string directory, Action<string> progress)
    {
        var total = Stopwatch.StartNew();
        string corpusDisk = Path.Combine(directory, "corpus.img");
        progress($"realistic dump: writing a {mix.CorpusMiB} MiB corpus from {corpus.Count} files onto an ext4 image");
        long corpusBytes = WriteCorpusDisk(corpus, mix.CorpusMiB, corpusDisk);

        string initramfs = Path.Combine(directory, "initramfs.cpio.gz");
        BuildInitramfs(kernel, initramfs, mix);
        string payload = Path.Combine(directory, "payload.img");
        string dumpDisk = Path.Combine(directory, "dump.img");
        DumpGuest guest = mix.Guest;
        GuestImage.WritePayloadDisk(payload, kernel.Vmlinuz, initramfs, guest.CaptureCommandLine);
        using (var disk = new FileStream(dumpDisk, FileMode.CreateNew, FileAccess.Write))
            disk.SetLength(((long)mix.MemoryMiB << 20) + DumpDiskSlackBytes);

        string consoleLog = Path.Combine(directory, "console.log");
        var options = new QemuOptions
        {
            Kernel = kernel.Vmlinuz,
            Initrd = initramfs,
            CommandLine = guest.CommandLine("kds-realistic-" + key),
            ConsoleLogPath = consoleLog,
            MemoryMiB = mix.MemoryMiB,
            Cpus = guest.Cpus,
            // vda and vdb as guest-init.sh expects them; the corpus is vdc.
            Disks = [new QemuDisk(payload, ReadOnly: true), new QemuDisk(dumpDisk, ReadOnly: false), new QemuDisk(corpusDisk, ReadOnly: true)],
            Timeout = TimeSpan.FromMinutes(40),
            OnLine = line =>
            {
                if (line.StartsWith("KDS-", StringComparison.Ordinal))
                    progress($"guest| {line}");
            },
        };
        progress($"realistic dump: booting {kernel.Release} with {mix.MemoryMiB} MiB under QEMU {QemuMachine.Accelerator} (console: {consoleLog})");
        QemuRun run = QemuMachine.Run(options);
        if (run.Lines.FirstOrDefault(l => l.Text.StartsWith("KDS-FAIL:", StringComparison.Ordinal)) is ConsoleLine failure)
            throw new QemuException(run.Describe($"the guest failed: {failure.Text}"));

        var phases = new Dictionary<string, string>();
        void Phase(string name, string from, string to) =>
            phases[name] = (At(run, to) - At(run, from)).ToString("0.0", CultureInfo.InvariantCulture);
        Phase("boot to init", "Linux version", "Run /init as init process");
        Phase("page cache (cat corpus)", "KDS-MIX-CACHE", "KDS-MIX-ANON");
        Phase("anonymous (dd | sleep)", "KDS-MIX-ANON", "KDS-MIX-FREED");
        Phase("freed (dd, exits)", "KDS-MIX-FREED", "KDS-MIX-DONE");
        Phase("panic to crash kernel's init", "sysrq: Trigger a crash", "KDS-COPY-BEGIN");
        Phase("crash kernel's copy of /proc/vmcore", "KDS-COPY-BEGIN", "KDS-COPY-END");
        phases["QEMU in all"] = run.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);

        progress("realistic dump: extracting the vmcore from the dump disk");
        long vmcoreBytes = ExtractVmcore(run, dumpDisk, Path.Combine(directory, "vmcore.elf"));
        File.Delete(dumpDisk);
        File.Delete(payload);
        File.Delete(corpusDisk);

        return new RealisticManifest(key, kernel.Release, mix, QemuMachine.Accelerator, CorpusRoots.ToList(), corpusBytes, phases,
            Block(run, "KDS-MEMINFO-BEFORE"), Block(run, "KDS-MEMINFO-PANIC"), Block(run, "KDS-ANON-STATUS"),
            vmcoreBytes, total.Elapsed.TotalSeconds, DateTimeOffset.UtcNow);
    }

    /// <summary>The dump disk is RAM plus this, as /proc/vmcore adds headers (as in the harness's DumpGenerator).</summary>
    private const long DumpDiskSlackBytes = 128L << 20;

    /// <summary>guest-init.sh writes the vmcore this far into the dump disk, after its header line.</summary>
    private const long DumpDiskDataOffset = 1 << 20;

    /// <summary>
    /// The workload, in busybox sh. It runs in guest-init.sh after the crash kernel is armed and
    /// before the panic; <c>fail</c> and <c>wait_for_disks</c> are guest-lib.sh's. Lines starting KDS- are read by the host.
    /// </summary>
    private static string Workload(MemoryMix mix) => $$"""
        # kds-bench realistic memory mix (bench/KdumpSharp.Bench/Inputs/RealisticDump.cs)
        wait_for_disks /dev/vdc
        mkdir -p /corpus
        mount -t ext4 -o ro /dev/vdc /corpus || fail "mount the corpus disk"
        meminfo() { while read -r name value unit; do [ "$name" = "$1:" ] && echo "$value"; done < /proc/meminfo; }
        echo "KDS-MEMINFO-BEFORE-BEGIN"; cat /proc/meminfo; echo "KDS-MEMINFO-BEFORE-END"
        echo "KDS-MIX-CACHE"
        cat /corpus/corpus > /dev/null || fail "cat the corpus"
        echo "KDS-MIX-ANON"
        dd if=/corpus/corpus bs={{mix.AnonymousMiB}}M count=1 2>/dev/null | sleep 1000000 &
        tries=0
        while [ "$(meminfo AnonPages)" -lt $(({{mix.AnonymousMiB}} * 1024 * 95 / 100)) ]; do
            tries=$((tries + 1))
            [ "$tries" -gt 1200 ] && fail "AnonPages stayed at $(meminfo AnonPages) kB below {{mix.AnonymousMiB}} MiB"
            sleep 0.5
        done
        echo "KDS-ANON-STATUS-BEGIN"
        grep -E '^(Name|State|VmRSS|RssAnon|RssFile)' /proc/$(pidof dd)/status
        echo "KDS-ANON-STATUS-END"
        echo "KDS-MIX-FREED"
        dd if=/corpus/corpus of=/dev/null bs={{mix.FreedMiB}}M count=1 2>/dev/null || fail "dd of the freed buffer"
        echo "KDS-MIX-DONE"
        echo "KDS-MEMINFO-PANIC-BEGIN"; cat /proc/meminfo; echo "KDS-MEMINFO-PANIC-END"

        """;

    private static void BuildInitramfs(TestKernel kernel, string path, MemoryMix mix)
    {
        string init = GuestImage.InitScript;
        int anchor = init.IndexOf(Anchor, StringComparison.Ordinal);
        if (anchor < 0)
            throw new InvalidOperationException($"guest-init.sh has no '{Anchor}' line to insert the workload before");
        init = init.Insert(anchor, Workload(mix));

        KernelModuleClosure modules = new KernelModuleResolver(kernel.ModulesDirectory).Resolve(Modules);
        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip);
        BusyboxInitramfs.AddInit(writer, init);
        var resolver = new SharedLibraryResolver();
        foreach (string executable in GuestImage.Executables)
            BusyboxInitramfs.AddWithLibraries(writer, resolver, executable);
        BusyboxInitramfs.AddApplets(writer, Path.GetDirectoryName(GuestImage.Executables[0])!, Applets);
        BusyboxInitramfs.AddModules(writer, kernel, modules);
        writer.Finish();
    }

    /// <summary>Regular files from <see cref="CorpusRoots"/>, in path order, until they reach <paramref name="mib"/>.</summary>
    private static List<FileInfo> CorpusFiles(int mib)
    {
        long wanted = (long)mib << 20, have = 0;
        var files = new List<FileInfo>();
        var enumeration = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        foreach (string root in CorpusRoots)
        {
            foreach (string path in Directory.EnumerateFiles(root, "*", enumeration).Order(StringComparer.Ordinal))
            {
                if (have >= wanted)
                    return files;
                var file = new FileInfo(path);
                if (file.Length == 0)
                    continue;
                files.Add(file);
                have += file.Length;
            }
        }
        if (have < wanted)
            throw new InvalidOperationException($"the corpus roots hold {have >> 20} MiB, less than the {mib} MiB asked for");
        return files;
    }

    /// <summary>Concatenates the corpus to exactly <paramref name="mib"/> MiB into an ext4 image made by mkfs.ext4 -d (nothing is mounted).</summary>
    private static long WriteCorpusDisk(IReadOnlyList<FileInfo> corpus, int mib, string image)
    {
        string staging = Directory.CreateTempSubdirectory("kds-bench-corpus-").FullName;
        try
        {
            string target = Path.Combine(staging, "corpus");
            long remaining = (long)mib << 20;
            using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
            {
                byte[] buffer = new byte[1 << 20];
                foreach (FileInfo file in corpus)
                {
                    using FileStream input = file.OpenRead();
                    int read;
                    while (remaining > 0 && (read = input.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining))) > 0)
                    {
                        output.Write(buffer, 0, read);
                        remaining -= read;
                    }
                }
            }
            long bytes = new FileInfo(target).Length;
            // Room for the file and metadata; no journal: the disk is mounted read-only.
            long imageMiB = mib + mib / 8 + 64;
            Run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-O", "^has_journal,^metadata_csum", "-d", staging, image, $"{imageMiB}M"]);
            return bytes;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static void Run(string file, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.Result.Trim()} {stdout.Result.Trim()}");
    }

    /// <summary>The first 16 hex digits of a SHA-256 over the inputs: generator, kernel, init script and its library, mix, corpus listing, accelerator, busybox, kexec.</summary>
    private static string CacheKey(TestKernel kernel, MemoryMix mix, IReadOnlyList<FileInfo> corpus)
    {
        var inputs = new StringBuilder();
        inputs.AppendLine($"generator={GeneratorVersion} package={kernel.Package} release={kernel.Release}");
        inputs.AppendLine($"vmlinuz={new FileInfo(kernel.Vmlinuz).Length}:{File.GetLastWriteTimeUtc(kernel.Vmlinuz):O}");
        inputs.AppendLine($"init={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(GuestImage.InitScript + BusyboxInitramfs.GuestLibrary + Workload(mix))))}");
        inputs.AppendLine($"mix={JsonSerializer.Serialize(mix)} guest={JsonSerializer.Serialize(mix.Guest)} accelerator={QemuMachine.Accelerator}");
        inputs.AppendLine($"applets={string.Join(',', Applets)} modules={string.Join(',', Modules)}");
        foreach (string tool in GuestImage.Executables)
            inputs.AppendLine($"{tool}={new FileInfo(tool).Length}:{File.GetLastWriteTimeUtc(tool):O}");
        foreach (FileInfo file in corpus)
            inputs.AppendLine($"{file.FullName} {file.Length} {file.LastWriteTimeUtc:O}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs.ToString())))[..16];
    }

    /// <summary>Copies the vmcore guest-init.sh wrote after its "KDSVMCORE1 &lt;bytes&gt; &lt;dd status&gt;" header line.</summary>
    private static long ExtractVmcore(QemuRun run, string dumpDisk, string target)
    {
        using var disk = new FileStream(dumpDisk, FileMode.Open, FileAccess.Read);
        byte[] head = new byte[512];
        disk.ReadExactly(head);
        int newline = Array.IndexOf(head, (byte)'\n');
        Match match = DumpHeader().Match(newline < 0 ? "" : Encoding.ASCII.GetString(head, 0, newline));
        if (!match.Success)
            throw new QemuException(run.Describe("the dump disk has no KDSVMCORE1 header: the crash kernel did not finish the copy"));
        if (match.Groups[2].Value != "0")
            throw new QemuException(run.Describe($"dd of /proc/vmcore exited with {match.Groups[2].Value}"));
        long bytes = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        disk.Position = DumpDiskDataOffset;
        using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
        byte[] buffer = new byte[4 << 20];
        for (long remaining = bytes; remaining > 0;)
        {
            int chunk = (int)Math.Min(buffer.Length, remaining);
            disk.ReadExactly(buffer, 0, chunk);
            output.Write(buffer, 0, chunk);
            remaining -= chunk;
        }
        return bytes;
    }

    /// <summary>The console lines between NAME-BEGIN and NAME-END, without kernel messages that interleaved.</summary>
    private static List<string> Block(QemuRun run, string name)
    {
        var lines = run.Lines.Select(l => l.Text).ToList();
        int begin = lines.IndexOf(name + "-BEGIN"), end = lines.IndexOf(name + "-END");
        if (begin < 0 || end < begin)
            throw new QemuException(run.Describe($"the console has no {name}-BEGIN … {name}-END block"));
        return lines.Skip(begin + 1).Take(end - begin - 1).Where(l => !KernelMessage().IsMatch(l)).ToList();
    }

    private static double At(QemuRun run, string text) =>
        (run.Find(text) ?? throw new QemuException(run.Describe($"no console line containing '{text}'"))).At.TotalSeconds;

    [GeneratedRegex(@"^KDSVMCORE1 (\d+) (\d+)$")]
    private static partial Regex DumpHeader();

    [GeneratedRegex(@"^\[\s*\d+\.\d+\]")]
    private static partial Regex KernelMessage();
}
