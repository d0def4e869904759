using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>Whether the firmware enforces Secure Boot, from the EFI variables.</summary>
public enum SecureBootState
{
    /// <summary>The efivars could not be read (not mounted, no permission).</summary>
    Unknown,

    /// <summary>No /sys/firmware/efi: booted by BIOS, Secure Boot does not apply.</summary>
    NotEfi,

    Disabled,

    /// <summary>SecureBoot=1 and SetupMode=0: the kernel's lockdown and IMA policies apply.</summary>
    Enabled,
}

/// <summary>
/// What is loaded for kexec and what the kernel will let us load, read from sysfs and procfs
/// (kernel/ksysfs.c, kernel/kexec_core.c, kernel/resource.c, security/lockdown/lockdown.c).
/// </summary>
/// <param name="Loaded">/sys/kernel/kexec_loaded: a kernel is loaded for kexec reboot; null if unreadable.</param>
/// <param name="CrashLoaded">/sys/kernel/kexec_crash_loaded: a crash kernel is armed; null if unreadable.</param>
/// <param name="CrashSize">/sys/kernel/kexec_crash_size: bytes reserved by crashkernel= (the low region not counted); null if unreadable.</param>
/// <param name="CrashRanges">The "Crash kernel" ranges of /proc/iomem (the main region and a crashkernel=,low one).</param>
/// <param name="IomemHidden">/proc/iomem showed every range as 0-0, as it does to readers without CAP_SYS_ADMIN.</param>
/// <param name="Lockdown">The lockdown mode in force ("none", "integrity", "confidentiality"), or null without the lockdown LSM.</param>
/// <param name="LoadDisabled">kernel.kexec_load_disabled is 1: no load of either kind until reboot; null if unreadable.</param>
public sealed record KexecStatus(
    bool? Loaded,
    bool? CrashLoaded,
    ulong? CrashSize,
    IReadOnlyList<PhysicalRange> CrashRanges,
    bool IomemHidden,
    string? Lockdown,
    SecureBootState SecureBoot,
    bool? LoadDisabled)
{
    /// <summary>The EFI global-variable GUID (UEFI spec, EFI_GLOBAL_VARIABLE) the SecureBoot and SetupMode variables live under.</summary>
    private const string EfiGlobalVariable = "8be4df61-93ca-11d2-aa0d-e0c29ba2e9e5";

    /// <summary>The iomem resource name of crashk_res and crashk_low_res (kernel/kexec_core.c).</summary>
    public const string CrashKernelResource = "Crash kernel";

    /// <summary>Whether the classic kexec_load is closed: lockdown refuses it with EPERM and Secure Boot's IMA policy with EACCES.</summary>
    public bool ClassicLoadForbidden => Lockdown is { } mode && mode != "none" || SecureBoot == SecureBootState.Enabled;

    /// <summary>The crash region in bytes: kexec_crash_size, or the iomem ranges when sysfs is unreadable.</summary>
    public ulong ReservedBytes => CrashSize ?? (ulong)CrashRanges.Sum(r => (decimal)r.Length);

    public static KexecStatus Read(SystemRoot root)
    {
        (IReadOnlyList<PhysicalRange> ranges, bool hidden) = ParseIomem(root.ReadText("/proc/iomem") ?? "");
        return new KexecStatus(
            ParseFlag(root.ReadText("/sys/kernel/kexec_loaded")),
            ParseFlag(root.ReadText("/sys/kernel/kexec_crash_loaded")),
            ulong.TryParse(root.ReadText("/sys/kernel/kexec_crash_size")?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong size) ? size : null,
            ranges,
            hidden,
            ParseLockdown(root.ReadText("/sys/kernel/security/lockdown")),
            ReadSecureBoot(root),
            ParseFlag(root.ReadText("/proc/sys/kernel/kexec_load_disabled")));
    }

    /// <summary>"0\n" or "1\n" (kernel/ksysfs.c prints an int); null for anything else.</summary>
    internal static bool? ParseFlag(string? text) => text?.Trim() switch
    {
        "0" => false,
        "1" => true,
        _ => null,
    };

    /// <summary>
    /// The "Crash kernel" lines of /proc/iomem ("start-end : name", hex, inclusive end, two spaces
    /// of indent per nesting level, kernel/resource.c r_show). A reader without CAP_SYS_ADMIN
    /// sees every range as 0-0; that is reported, not taken as "no reservation".
    /// </summary>
    internal static (IReadOnlyList<PhysicalRange> Ranges, bool Hidden) ParseIomem(string iomem)
    {
        var ranges = new List<PhysicalRange>();
        bool any = false, allZero = true;
        foreach (string rawLine in iomem.Split('\n'))
        {
            int colon = rawLine.IndexOf(" : ", StringComparison.Ordinal);
            if (colon < 0)
                continue;
            string span = rawLine[..colon].Trim();
            int dash = span.IndexOf('-');
            if (dash <= 0
                || !ulong.TryParse(span[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
                || !ulong.TryParse(span[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong last)
                || last < start)
                continue;
            any = true;
            allZero &= start == 0 && last == 0;
            if (rawLine[(colon + 3)..].Trim() == CrashKernelResource && last != ulong.MaxValue)
                ranges.Add(new PhysicalRange(new PhysicalAddress(start), new PhysicalAddress(last + 1)));
        }
        bool hidden = any && allZero;
        return (hidden ? [] : ranges, hidden);
    }

    /// <summary>"none [integrity] confidentiality": the bracketed word is the mode in force (security/lockdown/lockdown.c lockdown_read).</summary>
    internal static string? ParseLockdown(string? text)
    {
        if (text is null)
            return null;
        int open = text.IndexOf('[');
        int close = open < 0 ? -1 : text.IndexOf(']', open);
        return close > open + 1 ? text[(open + 1)..close] : null;
    }

    /// <summary>
    /// efivarfs files are a 4-byte attribute word followed by the value; SecureBoot and SetupMode
    /// are one byte each. Enforcing means SecureBoot=1 with SetupMode=0, as kdump-utils and
    /// mokutil read it.
    /// </summary>
    private static SecureBootState ReadSecureBoot(SystemRoot root)
    {
        if (!root.Exists("/sys/firmware/efi"))
            return SecureBootState.NotEfi;
        byte[]? secureBoot = root.ReadBytes($"/sys/firmware/efi/efivars/SecureBoot-{EfiGlobalVariable}");
        if (secureBoot is not { Length: >= 5 })
            return SecureBootState.Unknown;
        if (secureBoot[4] != 1)
            return SecureBootState.Disabled;
        byte[]? setupMode = root.ReadBytes($"/sys/firmware/efi/efivars/SetupMode-{EfiGlobalVariable}");
        return setupMode is { Length: >= 5 } && setupMode[4] == 1 ? SecureBootState.Disabled : SecureBootState.Enabled;
    }
}
