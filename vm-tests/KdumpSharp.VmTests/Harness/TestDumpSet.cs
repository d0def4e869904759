using System.Text.Json.Serialization;

namespace KdumpSharp.VmTests.Harness;

/// <summary>The makedumpfile 1.7.2 outputs made on the host from the ELF vmcore.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DumpVariant>))]
public enum DumpVariant
{
    /// <summary>kdump-compressed, zlib, dump level 31 (<c>-c -d 31</c>).</summary>
    KdumpZlib,

    /// <summary>kdump-compressed, lzo, dump level 31 (<c>-l -d 31</c>).</summary>
    KdumpLzo,

    /// <summary>kdump-compressed format with uncompressed pages, nothing excluded (<c>-d 0</c>).</summary>
    KdumpUncompressed,

    /// <summary>Flattened kdump-compressed, zlib, written to stdout (<c>-F -c -d 31</c>).</summary>
    Flattened,

    /// <summary>makedumpfile's own ELF output (<c>-E -d 31</c>).</summary>
    MakedumpfileElf,
}

/// <summary>The guest that makes the dumps. Every field is part of the cache key.</summary>
public sealed record DumpGuest
{
    public static DumpGuest Default { get; } = new();

    /// <summary>
    /// Guest RAM. With crashkernel=112M this leaves room for a 16 MiB-aligned reservation
    /// wherever KASLR puts the ~46 MiB first kernel, so the reservation never fails.
    /// </summary>
    public int MemoryMiB { get; init; } = 320;

    /// <summary>Two CPUs, so the dump has a crashing CPU and one stopped by NMI.</summary>
    public int Cpus { get; init; } = 2;

    /// <summary>The crash kernel reservation; both Debian kernels boot and copy the vmcore in it.</summary>
    public string CrashKernel { get; init; } = "112M";

    /// <summary>The crash kernel's command line (kexec -p --append).</summary>
    public string CaptureCommandLine { get; init; } = "console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=-1";

    /// <summary>
    /// The first kernel's command line. panic=-1 reboots at once if kexec fails, and QEMU's
    /// -no-reboot turns that into an exit instead of a hang.
    /// </summary>
    public string CommandLine(string marker) => $"console=ttyS0 crashkernel={CrashKernel} panic=-1 kds.marker={marker}";
}

/// <summary>One makedumpfile run, as recorded in the manifest.</summary>
/// <param name="File">The output file name in the dump directory, or null if no run succeeded.</param>
/// <param name="RequestedArguments">The arguments the variant asks for.</param>
/// <param name="Arguments">The arguments that made <paramref name="File"/> (differ after a fallback).</param>
/// <param name="RequestedFailure">makedumpfile's output when the requested arguments failed, or null.</param>
/// <param name="Log">File name of makedumpfile's output for the run that counts.</param>
public sealed record MakedumpfileRun(DumpVariant Variant, string? File, IReadOnlyList<string> RequestedArguments,
    IReadOnlyList<string>? Arguments, string? RequestedFailure, string Log, long Bytes, double Seconds);

/// <summary>A reference tool run (vmcore-dmesg, makedumpfile --dump-dmesg) as recorded in the manifest.</summary>
public sealed record ToolRun(string File, IReadOnlyList<string> Command, int ExitCode, string Output, double Seconds);

/// <summary>Where the time went, from the host's view of the console (TCG unless KDS_QEMU_KVM=1).</summary>
public sealed record DumpTimings(
    double InitramfsBuildSeconds,
    double BootToInitSeconds,
    double InitToCrashSeconds,
    double CrashToCaptureInitSeconds,
    double CaptureInitToCopySeconds,
    double CopySeconds,
    double QemuSeconds,
    double ExtractSeconds,
    double MakedumpfileSeconds,
    double TotalSeconds);

/// <summary>manifest.json of a dump directory; its presence marks the directory complete.</summary>
public sealed record DumpManifest(
    int HarnessVersion,
    string CacheKey,
    string Package,
    string KernelRelease,
    string Marker,
    DumpGuest Guest,
    string Accelerator,
    IReadOnlyList<string> QemuArguments,
    long InitramfsBytes,
    long InitramfsUncompressedBytes,
    IReadOnlyList<string> InitramfsFiles,
    IReadOnlyList<string> LoadedModules,
    long VmcoreBytes,
    IReadOnlyList<string> ProcessList,
    IReadOnlyList<MakedumpfileRun> Makedumpfile,
    ToolRun VmcoreDmesg,
    ToolRun MakedumpfileDmesg,
    DumpTimings Timings,
    DateTimeOffset Created);

/// <summary>A makedumpfile output with absolute paths.</summary>
/// <param name="Path">The dump file, or null when makedumpfile failed with both the requested and the fallback arguments.</param>
/// <param name="Arguments">The arguments that made <paramref name="Path"/>.</param>
/// <param name="RequestedFailure">Why the requested arguments failed, when a fallback (<c>-d 1</c>) made the file instead.</param>
/// <param name="LogPath">makedumpfile's messages for the run that counts.</param>
public sealed record DerivedDump(DumpVariant Variant, string? Path, IReadOnlyList<string> RequestedArguments,
    IReadOnlyList<string>? Arguments, string? RequestedFailure, string LogPath)
{
    public bool UsedFallback => Path is not null && RequestedFailure is not null;
}

/// <summary>
/// Real crash dumps of one <see cref="TestKernel"/>, from <see cref="TestDumps.Get"/>: the ELF
/// vmcore copied from the crash kernel's /proc/vmcore, the makedumpfile outputs made from it on
/// the host, reference dmesg from vmcore-dmesg and makedumpfile, and what the guest printed.
/// </summary>
public sealed class TestDumpSet
{
    public TestDumpSet(TestKernel kernel, string directory, DumpManifest manifest)
    {
        Kernel = kernel;
        Directory = directory;
        Manifest = manifest;
        Derived = manifest.Makedumpfile
            .Select(run => new DerivedDump(run.Variant, run.File is null ? null : In(run.File), run.RequestedArguments,
                run.Arguments, run.RequestedFailure, In(run.Log)))
            .ToList();
    }

    public TestKernel Kernel { get; }

    /// <summary>/var/cache/kdumpsharp-test/dumps/&lt;release&gt;-&lt;key&gt;.</summary>
    public string Directory { get; }

    public DumpManifest Manifest { get; }

    /// <summary>The random string the guest wrote to /dev/kmsg as "KDS-MARKER &lt;marker&gt;" before crashing.</summary>
    public string Marker => Manifest.Marker;

    /// <summary>uname -r as the guest printed it.</summary>
    public string KernelRelease => Manifest.KernelRelease;

    /// <summary>/proc/vmcore of the crash kernel, byte for byte.</summary>
    public string ElfVmcore => In(DumpFiles.ElfVmcore);

    /// <summary>The serial console of both kernels.</summary>
    public string ConsoleLog => In(DumpFiles.ConsoleLog);

    /// <summary>The initramfs both kernels booted.</summary>
    public string Initramfs => In(DumpFiles.Initramfs);

    /// <summary>`ps -o pid,ppid,stat,comm,args` in the first kernel just before the crash, header line first.</summary>
    public IReadOnlyList<string> ProcessList => Manifest.ProcessList;

    /// <summary>The same process list as a file.</summary>
    public string ProcessListFile => In(DumpFiles.ProcessList);

    /// <summary>Debian's vmcore-dmesg on <see cref="ElfVmcore"/>.</summary>
    public string VmcoreDmesg => In(Manifest.VmcoreDmesg.File);

    /// <summary>makedumpfile --dump-dmesg on <see cref="ElfVmcore"/>.</summary>
    public string MakedumpfileDmesg => In(Manifest.MakedumpfileDmesg.File);

    public IReadOnlyList<DerivedDump> Derived { get; }

    public DerivedDump KdumpZlib => Variant(DumpVariant.KdumpZlib);
    public DerivedDump KdumpLzo => Variant(DumpVariant.KdumpLzo);
    public DerivedDump KdumpUncompressed => Variant(DumpVariant.KdumpUncompressed);
    public DerivedDump Flattened => Variant(DumpVariant.Flattened);
    public DerivedDump MakedumpfileElf => Variant(DumpVariant.MakedumpfileElf);

    public DerivedDump Variant(DumpVariant variant) => Derived.Single(d => d.Variant == variant);

    public override string ToString() => $"{Kernel.Release} dumps in {Directory}";

    private string In(string file) => System.IO.Path.Combine(Directory, file);
}

/// <summary>Fixed file names inside a dump directory.</summary>
internal static class DumpFiles
{
    public const string Manifest = "manifest.json";
    public const string ElfVmcore = "vmcore.elf";
    public const string ConsoleLog = "console.log";
    public const string Initramfs = "initramfs.cpio.gz";
    public const string ProcessList = "ps.txt";
    public const string VmcoreDmesg = "dmesg.vmcore-dmesg.txt";
    public const string MakedumpfileDmesg = "dmesg.makedumpfile.txt";
}
