using System.Buffers;
using System.Runtime.InteropServices;
using KdumpSharp.Interop;

namespace KdumpSharp.Kexec;

/// <summary>
/// The kexec_load(2) syscall (kernel/kexec.c): hands the kernel a list of segments and an entry
/// point. With <see cref="KexecLoadFlags.OnCrash"/> the image is armed for a panic; otherwise it
/// runs at the next reboot(LINUX_REBOOT_CMD_KEXEC).
/// </summary>
public static class KexecLoad
{
    private const int EPERM = 1;
    private const int ENOMEM = 12;
    private const int EACCES = 13;
    private const int EBUSY = 16;
    private const int EINVAL = 22;
    private const int ENOSYS = 38;
    private const int EADDRNOTAVAIL = 99;

    /// <summary>Loads <paramref name="image"/>; KEXEC_ARCH_X86_64 is added to <paramref name="flags"/>.</summary>
    public static unsafe void Load(KexecImage image, KexecLoadFlags flags, string systemRoot = "/")
    {
        KexecImageRules.Check(image, crashRegion: null);
        var natives = new LibC.KexecSegmentNative[image.Segments.Count];
        var pins = new MemoryHandle[image.Segments.Count];
        try
        {
            for (int i = 0; i < natives.Length; i++)
            {
                KexecSegment s = image.Segments[i];
                pins[i] = s.Buffer.Pin();
                natives[i] = new LibC.KexecSegmentNative
                {
                    Buffer = pins[i].Pointer,
                    BufferSize = (nuint)s.Buffer.Length,
                    Memory = s.Destination.Value,
                    MemorySize = (nuint)s.MemorySize,
                };
            }
            fixed (LibC.KexecSegmentNative* segments = natives)
                Invoke(image.Entry, (ulong)natives.Length, segments, flags | KexecLoadFlags.ArchX86_64, systemRoot);
        }
        finally
        {
            foreach (MemoryHandle pin in pins)
                pin.Dispose();
        }
    }

    /// <summary>Unloads the normal or (with <paramref name="crash"/>) the crash image: kexec_load with no segments.</summary>
    public static unsafe void Unload(bool crash, string systemRoot = "/") =>
        Invoke(0, 0, null, (crash ? KexecLoadFlags.OnCrash : KexecLoadFlags.None) | KexecLoadFlags.ArchX86_64, systemRoot);

    /// <summary>The raw call, for flags the image builder never produces (tests probe error mapping with them).</summary>
    internal static unsafe void Invoke(ulong entry, ulong count, LibC.KexecSegmentNative* segments, KexecLoadFlags flags, string systemRoot)
    {
        if (LibC.SyscallKexecLoad(LibC.SysKexecLoad, entry, count, segments, (ulong)flags) != 0)
            throw ErrorFor(Marshal.GetLastPInvokeError(), flags, systemRoot);
    }

    /// <summary>One line and a hint for each errno kexec_load returns (kernel/kexec.c kexec_load_check, kernel/kexec_core.c).</summary>
    internal static KexecException ErrorFor(int errno, KexecLoadFlags flags, string systemRoot)
    {
        bool crash = (flags & KexecLoadFlags.OnCrash) != 0;
        string what = crash ? "kexec_load (crash kernel)" : "kexec_load";
        return errno switch
        {
            EPERM => new KexecException($"{what}: not permitted (EPERM)", errno, PermissionHint(systemRoot)),
            EACCES => new KexecException($"{what}: refused by IMA (EACCES)", errno,
                "Secure Boot's IMA policy forbids unsigned kexec_load images; use kexec_file_load with a signed kernel"),
            EADDRNOTAVAIL => new KexecException($"{what}: a segment lies outside the allowed memory (EADDRNOTAVAIL)", errno,
                crash ? "the image must fit inside the \"Crash kernel\" region of /proc/iomem; check crashkernel=" : "segments must be page-aligned"),
            ENOMEM => new KexecException($"{what}: out of memory (ENOMEM)", errno,
                crash ? "the crash region has no room left for the kernel's control pages; raise crashkernel=" : "free some memory and retry"),
            EBUSY => new KexecException($"{what}: busy (EBUSY)", errno, "another kexec load or a panic is in progress; retry"),
            EINVAL => new KexecException($"{what}: invalid argument (EINVAL)", errno,
                "the kernel rejected the flags, the segment count or layout (over 16, overlapping, larger than half of RAM)"),
            ENOSYS => new KexecException($"{what}: not implemented (ENOSYS)", errno,
                "the kernel lacks CONFIG_KEXEC, or a seccomp filter (container) blocks the call"),
            _ => new KexecException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno),
        };
    }

    /// <summary>Which of EPERM's three causes applies, read from the system where possible.</summary>
    private static string PermissionHint(string systemRoot)
    {
        string disabled = Path.Join(systemRoot, "/proc/sys/kernel/kexec_load_disabled");
        if (File.Exists(disabled) && TryRead(disabled)?.Trim() == "1")
            return "kernel.kexec_load_disabled is 1 (it cannot be reset until reboot)";
        string lockdown = Path.Join(systemRoot, "/sys/kernel/security/lockdown");
        if (TryRead(lockdown) is string mode && !mode.Contains("[none]", StringComparison.Ordinal))
            return $"the kernel is locked down ({mode.Trim()}), which forbids kexec_load; use kexec_file_load with a signed kernel";
        return "run as root (kexec_load needs CAP_SYS_BOOT)";
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
