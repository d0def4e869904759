using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// The running kernel's view of memory and crash state, read from /proc and /sys below
/// <see cref="Root"/> ("/" on a real system, a directory tree in tests).
/// </summary>
public sealed class RunningSystem(string root = "/")
{
    /// <summary>Bytes of /proc/kcore read for its headers: an ELF header plus a few hundred program headers.</summary>
    private const int KcoreHeaderBytes = 64 << 10;

    public string Root { get; } = root;

    private string PathOf(string absolute) => Path.Join(Root, absolute);

    public string IomemPath => PathOf("/proc/iomem");

    public Iomem ReadIomem() => Iomem.Parse(IomemPath, ReadText(IomemPath));

    /// <summary>The firmware e820 map, or null when the kernel has no /sys/firmware/memmap.</summary>
    public IReadOnlyList<E820Entry>? ReadFirmwareMemmap()
    {
        string dir = PathOf("/sys/firmware/memmap");
        return Directory.Exists(dir) ? Wrap(dir, () => FirmwareMemmap.Read(dir)) : null;
    }

    /// <summary>The map for a normal kexec: /sys/firmware/memmap, else /proc/iomem's top level.</summary>
    public E820Map ReadNormalMemoryMap() =>
        ReadFirmwareMemmap() is { Count: > 0 } firmware ? E820Map.FromFirmware(firmware) : E820Map.FromIomem(ReadIomem());

    public IReadOnlyList<CpuCrashNote> ReadCrashNotes()
    {
        string dir = PathOf("/sys/devices/system/cpu");
        return Wrap(dir, () => CpuCrashNote.ReadAll(dir));
    }

    public VmcoreinfoNoteLocation ReadVmcoreinfo()
    {
        string path = PathOf("/sys/kernel/vmcoreinfo");
        return VmcoreinfoNoteLocation.Parse(path, ReadText(path));
    }

    /// <summary>The running zero page (/sys/kernel/boot_params/data, arch/x86/kernel/ksysfs.c), or empty when absent.</summary>
    public byte[] ReadBootParams()
    {
        string path = PathOf("/sys/kernel/boot_params/data");
        if (!File.Exists(path))
            return [];
        byte[] data = Wrap(path, () => File.ReadAllBytes(path));
        return data.Length >= BootParams.Size ? data[..BootParams.Size] : [];
    }

    public KernelTextMapping ReadKernelTextMapping(Iomem iomem)
    {
        string path = PathOf("/proc/kallsyms");
        string kallsyms = ReadText(path);
        return KernelTextMapping.From(path, kallsyms, iomem, DirectMap.KcoreLoads(KcorePath, ReadKcoreHeaders()));
    }

    public ulong ReadDirectMapBase() => DirectMap.FromKcoreHeaders(KcorePath, ReadKcoreHeaders());

    private string KcorePath => PathOf("/proc/kcore");

    private byte[] ReadKcoreHeaders()
    {
        string path = KcorePath;
        return Wrap(path, () =>
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            byte[] buffer = new byte[KcoreHeaderBytes];
            int total = 0, n;
            while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
                total += n;
            return buffer[..total];
        });
    }

    /// <summary>Every "Crash kernel" range, lowest first (the high one is last).</summary>
    public static IReadOnlyList<PhysicalRange> CrashRegions(Iomem iomem) => iomem.Find("Crash kernel");

    private static string ReadText(string path) => Wrap(path, () => File.ReadAllText(path));

    private static T Wrap<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (UnauthorizedAccessException)
        {
            throw new KexecException($"{path}: permission denied", hint: "run as root");
        }
        catch (IOException e)
        {
            throw new KexecException($"{path}: {e.Message}");
        }
    }
}
