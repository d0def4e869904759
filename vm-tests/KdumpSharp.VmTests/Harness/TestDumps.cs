using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// Real crash dumps for the test suite, made once per set of inputs and cached outside the
/// repository under <c>&lt;cache&gt;/dumps/&lt;release&gt;-&lt;key&gt;/</c>, where the key
/// hashes everything that shapes the dump: the harness version, the kernel package and image,
/// the init script, the guest machine, the accelerator, busybox, kexec and the host tools.
/// </summary>
/// <remarks>
/// A dump is generated into a temporary sibling directory and renamed into place only when
/// complete, so readers never see a half-written one. Generation holds an exclusive lock file
/// (flock through FileShare.None), so concurrent test processes wait for one another instead of
/// booting the same guest twice; the first to get the lock makes the dump, the rest find it.
/// </remarks>
public static class TestDumps
{
    /// <summary>Bump when generation changes in a way the other inputs do not capture.</summary>
    public const int HarnessVersion = 1;

    public static TimeSpan QemuTimeout { get; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <see cref="QemuTimeout"/> plus a minute per GiB of guest RAM: the crash kernel's copy of
    /// /proc/vmcore grows with it (a 4 GiB guest's took 133 s under TCG on a loaded 2-core host,
    /// about 30 MB/s), while boot and capture stay near a minute.
    /// </summary>
    public static TimeSpan QemuTimeoutFor(DumpGuest guest) => QemuTimeout + TimeSpan.FromMinutes(guest.MemoryMiB / 1024.0);

    /// <summary>How long to wait for another process that is generating the same dumps.</summary>
    public static TimeSpan LockTimeout { get; } = TimeSpan.FromMinutes(45);

    /// <summary>
    /// Where the live console of a guest making dumps is logged: by default vm-logs/ in NUnit's
    /// work directory. Programs outside NUnit (kds-bench) set it, as NUnit has no work directory there.
    /// </summary>
    public static string? ConsoleLogDirectory { get; set; }

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, TestDumpSet> Loaded = [];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string DumpsRoot => Path.Combine(TestKernel.CacheRoot, "dumps");

    /// <summary>The dumps of <paramref name="kernel"/>, generating them first if they are not cached.</summary>
    /// <exception cref="QemuException">The guest did not produce a dump; the message quotes the console.</exception>
    public static TestDumpSet Get(TestKernel kernel) => Get(kernel, DumpGuest.Default);

    /// <summary>The dumps of <paramref name="kernel"/> made by a non-default guest, cached under their own key.</summary>
    public static TestDumpSet Get(TestKernel kernel, DumpGuest guest)
    {
        kernel.EnsureInstalled();
        string key = CacheKey(kernel, guest);
        lock (Gate)
        {
            if (Loaded.TryGetValue(key, out TestDumpSet? known))
                return known;
            string directory = Path.Combine(DumpsRoot, $"{kernel.Release}-{key}");
            TestDumpSet set = TryLoad(kernel, directory) ?? GenerateLocked(kernel, guest, key, directory);
            Loaded[key] = set;
            return set;
        }
    }

    /// <summary>The directory <see cref="Get(TestKernel, DumpGuest)"/> uses, whether or not it exists yet.</summary>
    public static string DirectoryFor(TestKernel kernel, DumpGuest? guest = null) =>
        Path.Combine(DumpsRoot, $"{kernel.EnsureInstalled().Release}-{CacheKey(kernel, guest ?? DumpGuest.Default)}");

    private static TestDumpSet GenerateLocked(TestKernel kernel, DumpGuest guest, string key, string directory)
    {
        Directory.CreateDirectory(DumpsRoot);
        using FileStream lockFile = AcquireLock(directory + ".lock");
        if (TryLoad(kernel, directory) is TestDumpSet madeMeanwhile)
            return madeMeanwhile;

        // A directory without a manifest, or a temporary one, is left from a killed run.
        foreach (string stale in Directory.GetDirectories(DumpsRoot, Path.GetFileName(directory) + ".tmp-*"))
            Directory.Delete(stale, recursive: true);
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);

        string temporary = $"{directory}.tmp-{Environment.ProcessId}";
        Directory.CreateDirectory(temporary);
        string consoleLog = Path.Combine(ConsoleLogDirectory ?? Path.Combine(TestContext.CurrentContext.WorkDirectory, "vm-logs"),
            $"{kernel.Release}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.console.log");
        try
        {
            DumpManifest manifest = DumpGenerator.Generate(kernel, guest, key, temporary, consoleLog);
            File.WriteAllText(Path.Combine(temporary, DumpFiles.Manifest), JsonSerializer.Serialize(manifest, Json));
            Directory.Move(temporary, directory);
            return new TestDumpSet(kernel, directory, manifest);
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }
    }

    private static TestDumpSet? TryLoad(TestKernel kernel, string directory)
    {
        string manifestPath = Path.Combine(directory, DumpFiles.Manifest);
        if (!File.Exists(manifestPath))
            return null;
        DumpManifest manifest = JsonSerializer.Deserialize<DumpManifest>(File.ReadAllText(manifestPath), Json)
            ?? throw new InvalidDataException($"{manifestPath} is empty");
        return new TestDumpSet(kernel, directory, manifest);
    }

    private static FileStream AcquireLock(string path)
    {
        DateTime deadline = DateTime.UtcNow + LockTimeout;
        bool announced = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                if (!announced)
                {
                    TestContext.Progress.WriteLine($"VM tests: waiting for another process generating dumps ({path})");
                    announced = true;
                }
                Thread.Sleep(TimeSpan.FromSeconds(1));
            }
        }
    }

    /// <summary>The first 16 hex digits of a SHA-256 over every input that shapes the dumps.</summary>
    internal static string CacheKey(TestKernel kernel, DumpGuest guest)
    {
        var inputs = new StringBuilder();
        inputs.AppendLine($"harness={HarnessVersion}");
        inputs.AppendLine($"package={kernel.Package} release={kernel.Release}");
        inputs.AppendLine($"vmlinuz={FileHash(kernel.Vmlinuz)}");
        inputs.AppendLine($"init={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(GuestImage.InitScript)))}");
        inputs.AppendLine($"lib={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(BusyboxInitramfs.GuestLibrary)))}");
        inputs.AppendLine($"guest={JsonSerializer.Serialize(guest)} cmdline={guest.CommandLine("<marker>")}");
        inputs.AppendLine($"accelerator={QemuMachine.Accelerator}");
        inputs.AppendLine($"applets={string.Join(',', GuestImage.Applets)} modules={string.Join(',', GuestImage.Modules)}");
        foreach (string tool in GuestImage.Executables.Concat([DumpGenerator.Makedumpfile, DumpGenerator.VmcoreDmesgTool]))
            inputs.AppendLine($"{tool}={FileHash(tool)}");
        foreach (DumpGenerator.Variant variant in DumpGenerator.Variants)
            inputs.AppendLine($"{variant.Kind}={variant.File}:{string.Join(' ', variant.Arguments)}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs.ToString())))[..16];
    }

    private static string FileHash(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
