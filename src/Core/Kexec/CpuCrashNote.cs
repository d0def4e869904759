using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// Where one CPU's crash note lives: /sys/devices/system/cpu/cpuN/crash_notes (physical address,
/// "%llx" without 0x) and crash_notes_size (decimal sizeof(note_buf_t)), drivers/base/cpu.c. At
/// panic the CPU writes its NT_PRSTATUS there (kernel/kexec_core.c crash_save_cpu).
/// </summary>
public readonly record struct CpuCrashNote(int Cpu, PhysicalAddress Address, ulong Size)
{
    /// <summary>More CPUs than Linux supports (NR_CPUS max 8192); bounds a bad directory.</summary>
    private const int MaxCpus = 8192;

    /// <summary>Reads every cpuN below <paramref name="cpuDirectory"/> that has a crash note, by CPU number.</summary>
    public static IReadOnlyList<CpuCrashNote> ReadAll(string cpuDirectory)
    {
        var notes = new List<CpuCrashNote>();
        foreach (string dir in Directory.EnumerateDirectories(cpuDirectory, "cpu*"))
        {
            string name = Path.GetFileName(dir);
            if (!int.TryParse(name.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int cpu))
                continue; // cpufreq, cpuidle
            string addressFile = Path.Join(dir, "crash_notes");
            if (!File.Exists(addressFile))
                continue;
            if (notes.Count >= MaxCpus)
                throw new KexecException($"{cpuDirectory}: more than {MaxCpus} CPUs");
            string addressText = File.ReadAllText(addressFile).Trim();
            string sizeText = File.ReadAllText(Path.Join(dir, "crash_notes_size")).Trim();
            if (!ulong.TryParse(addressText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address) || address == 0)
                throw new KexecException($"{addressFile}: \"{addressText}\" is not a physical address");
            if (!ulong.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong size) || size == 0 || size > 1 << 16)
                throw new KexecException($"{dir}/crash_notes_size: \"{sizeText}\" is not a note size");
            notes.Add(new CpuCrashNote(cpu, new PhysicalAddress(address), size));
        }
        if (notes.Count == 0)
            throw new KexecException($"{cpuDirectory}: no CPU has a crash_notes file (kernel built without CONFIG_CRASH_DUMP?)");
        notes.Sort((a, b) => a.Cpu.CompareTo(b.Cpu));
        return notes;
    }
}
