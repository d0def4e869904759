using System.Globalization;
using KdumpSharp.Dumps.Native;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>The machine facts a crashkernel= estimate depends on.</summary>
/// <param name="Cpus">CPUs the ELF core header gets a PT_NOTE for (/sys/devices/system/cpu/cpuN).</param>
/// <param name="RamRanges">Top-level "System RAM" ranges of /proc/iomem: one PT_LOAD each.</param>
/// <param name="TotalRam">Bytes of RAM: the kernel's identity-map page tables in the region grow with it.</param>
public sealed record CrashMachine(int Cpus, int RamRanges, ulong TotalRam);

/// <summary>How much crash memory a crash kernel needs, and how that compares with what is reserved.</summary>
/// <param name="Load">Bytes the load itself takes in the region (kernel init_size, initrd, headers, purgatory, control pages).</param>
/// <param name="Runtime">Bytes the crash kernel needs beyond that to boot and capture (measured, see <see cref="CrashReservationEstimate"/>).</param>
/// <param name="MeasuredFor">The kernel series the runtime figure was measured on ("6.1", "6.12").</param>
/// <param name="Reserved">Bytes reserved now (kexec_crash_size), 0 for none, null when unreadable.</param>
public sealed record CrashReservation(ulong Load, ulong Runtime, string MeasuredFor, ulong? Reserved)
{
    public ulong Needed => Load + Runtime;

    /// <summary>Needed, rounded up to a multiple of 8 MiB.</summary>
    public ulong Suggested => BzImage.AlignUp(Needed, CrashReservationEstimate.SuggestionStep);

    public string SuggestedParameter => string.Create(CultureInfo.InvariantCulture, $"crashkernel={Suggested >> 20}M");

    public bool Suffices => Reserved is { } reserved && reserved >= Needed;
}

/// <summary>
/// The crashkernel= a crash load of a kernel with our .NET crash environment needs. The load part
/// is computed (<see cref="ClassicImageBuilder.EstimateCrashLoad"/>); the runtime part comes from
/// measurement: the smallest crashkernel= with which a real Debian kernel booted the 11.6 MB zstd
/// crash initramfs (the 21 MB ReadyToRun kds-capture) and captured in QEMU (README, "crash
/// environment"; CrashKernelSizeMeasurement) was 136M on 6.1 and 120M on 6.12, in a 2-CPU,
/// 512 MiB guest. Runtime is that minimum minus the load of that measured set-up,
/// so an estimate for the measured set-up gives back exactly the measured minimum, and a larger
/// initrd, more CPUs or more RAM add what they add to the load. More RAM also grows kds-capture's
/// table of stored pages (<see cref="DuplicatePageIndex"/>, at most 16 MiB), which the runtime adds
/// beyond the measured guest's 1 MiB: the minima predate the table, so they were checked again with
/// it (one entry per RAM page), and both kernels still captured at 128M and 136M.
/// </summary>
public static class CrashReservationEstimate
{
    public const ulong SuggestionStep = 8UL << 20;

    /// <summary>The crash initramfs the minimum was measured with: 11.6 MB zstd (README).</summary>
    public const long MeasuredInitrdBytes = 11_600_000;

    /// <summary>x86-64's 52-bit physical address limit (MAX_PHYSMEM_BITS with 5-level paging); a range beyond it is not RAM.</summary>
    private const ulong MaxPhysical = 1UL << 52;

    private static readonly CrashMachine MeasuredMachine = new(Cpus: 2, RamRanges: 2, TotalRam: 512UL << 20);

    /// <summary>Smallest crashkernel= that captured, per kernel series; later series use the latest measured one.</summary>
    private static readonly (int Major, int Minor, ulong Minimum)[] Measured = [(6, 1, 136UL << 20), (6, 12, 120UL << 20)];

    public static CrashReservation Estimate(BzImage kernel, long initrdBytes, string release, CrashMachine machine, ulong? reserved)
    {
        (int major, int minor, ulong minimum) = MeasurementFor(release);
        ulong measuredLoad = Load(kernel, MeasuredInitrdBytes, MeasuredMachine);
        ulong runtime = minimum > measuredLoad ? minimum - measuredLoad : 0;
        long tableGrowth = DuplicatePageIndex.TableBytesFor(machine.TotalRam / PageFrameNumber.PageSize) - DuplicatePageIndex.TableBytesFor(MeasuredMachine.TotalRam / PageFrameNumber.PageSize);
        runtime += (ulong)Math.Max(tableGrowth, 0);
        return new CrashReservation(Load(kernel, initrdBytes, machine), runtime, $"{major}.{minor}", reserved);
    }

    private static ulong Load(BzImage kernel, long initrdBytes, CrashMachine machine) =>
        ClassicImageBuilder.EstimateCrashLoad(kernel, initrdBytes, machine.Cpus, machine.RamRanges, machine.TotalRam);

    /// <summary>The measurement of the newest series not after <paramref name="release"/>'s, else the oldest (6.1, the largest).</summary>
    private static (int, int, ulong) MeasurementFor(string release)
    {
        string[] parts = release.Split('.', 3);
        if (parts.Length >= 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major)
            && int.TryParse(new string(parts[1].TakeWhile(char.IsAsciiDigit).ToArray()), NumberStyles.None, CultureInfo.InvariantCulture, out int minor))
        {
            foreach ((int Major, int Minor, ulong Minimum) m in Measured.Reverse())
                if (major > m.Major || major == m.Major && minor >= m.Minor)
                    return m;
        }
        return Measured[0];
    }

    /// <summary>CPUs, RAM ranges and RAM size of the running system; without root /proc/iomem hides addresses, so RAM falls back to /proc/meminfo.</summary>
    public static CrashMachine ReadMachine(SystemRoot root)
    {
        string cpuDirectory = root.Resolve("/sys/devices/system/cpu");
        int cpus = Directory.Exists(cpuDirectory)
            ? Directory.GetDirectories(cpuDirectory, "cpu*").Count(d => Path.GetFileName(d)[3..] is { Length: > 0 } n && n.All(char.IsAsciiDigit))
            : 0;
        var ram = new List<PhysicalRange>();
        foreach (string line in (root.ReadText("/proc/iomem") ?? "").Split('\n'))
        {
            if (line.StartsWith(' ') || !line.EndsWith(" : System RAM", StringComparison.Ordinal))
                continue;
            string[] span = line[..line.IndexOf(' ', StringComparison.Ordinal)].Split('-');
            if (span.Length == 2 && ulong.TryParse(span[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
                && ulong.TryParse(span[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong last) && last > start && last < MaxPhysical)
                ram.Add(new PhysicalRange(new(start), new(last + 1)));
        }
        ulong total = ram.Aggregate(0UL, (sum, r) => sum + r.Length);
        if (total == 0)
            total = MemTotal(root.ReadText("/proc/meminfo"));
        return new CrashMachine(Math.Max(cpus, 1), Math.Max(ram.Count, 1), total);
    }

    private static ulong MemTotal(string? meminfo)
    {
        foreach (string line in (meminfo ?? "").Split('\n'))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is ["MemTotal:", var kib, "kB"] && ulong.TryParse(kib, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
                return value << 10;
        }
        return 0;
    }
}
