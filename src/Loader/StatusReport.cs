using System.Globalization;
using System.Text;
using System.Text.Json;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;

namespace KdumpSharp.Loader;

/// <summary>The status command's text and JSON forms.</summary>
public static class StatusReport
{
    public static IEnumerable<string> Text(KexecStatus status)
    {
        yield return $"kexec kernel:   {Flag(status.Loaded, "loaded", "not loaded")}";
        yield return $"crash kernel:   {Flag(status.CrashLoaded, "armed", "not armed")}";
        string size = status.CrashSize is { } bytes ? $"{Mib(bytes)} (kexec_crash_size {bytes})" : "kexec_crash_size unreadable";
        string ranges = status.IomemHidden
            ? "; /proc/iomem hides addresses from non-root readers"
            : status.CrashRanges.Count == 0 ? "; no \"Crash kernel\" in /proc/iomem" : "; " + string.Join(", ", status.CrashRanges.Select(Range));
        yield return $"reservation:    {(status.CrashSize == 0 ? "none (no crashkernel= on the kernel command line)" : size + ranges)}";
        yield return $"lockdown:       {status.Lockdown ?? "unknown (no /sys/kernel/security/lockdown: securityfs not mounted or no lockdown LSM)"}";
        yield return $"secure boot:    {SecureBoot(status.SecureBoot)}";
        if (status.LoadDisabled == true)
            yield return "kexec loads:    disabled until reboot (kernel.kexec_load_disabled=1)";
        yield return $"syscalls:       kexec_file_load{(status.ClassicLoadForbidden ? " only (kexec_load is closed by lockdown or Secure Boot)" : " and kexec_load")}";
    }

    public static string Json(KexecStatus status)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            json.WriteStartObject();
            WriteFlag(json, "loaded", status.Loaded);
            WriteFlag(json, "crashLoaded", status.CrashLoaded);
            if (status.CrashSize is { } size)
                json.WriteNumber("crashSize", size);
            else
                json.WriteNull("crashSize");
            json.WriteStartArray("crashRanges");
            foreach (PhysicalRange range in status.CrashRanges)
            {
                json.WriteStartObject();
                json.WriteString("start", Hex(range.Start.Value));
                json.WriteString("end", Hex(range.End.Value));
                json.WriteNumber("bytes", range.Length);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteBoolean("iomemHidden", status.IomemHidden);
            if (status.Lockdown is { } lockdown)
                json.WriteString("lockdown", lockdown);
            else
                json.WriteNull("lockdown");
            json.WriteString("secureBoot", status.SecureBoot switch
            {
                SecureBootState.NotEfi => "not-efi",
                SecureBootState.Disabled => "disabled",
                SecureBootState.Enabled => "enabled",
                _ => "unknown",
            });
            WriteFlag(json, "loadDisabled", status.LoadDisabled);
            json.WriteBoolean("classicLoadForbidden", status.ClassicLoadForbidden);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteFlag(Utf8JsonWriter json, string name, bool? value)
    {
        if (value is { } known)
            json.WriteBoolean(name, known);
        else
            json.WriteNull(name);
    }

    private static string Flag(bool? value, string yes, string no) => value switch
    {
        true => yes,
        false => no,
        null => "unknown (sysfs unreadable)",
    };

    private static string SecureBoot(SecureBootState state) => state switch
    {
        SecureBootState.NotEfi => "not applicable (not booted through EFI)",
        SecureBootState.Disabled => "disabled",
        SecureBootState.Enabled => "enabled",
        _ => "unknown (efivars unreadable)",
    };

    private static string Range(PhysicalRange range) => $"{Hex(range.Start.Value)}-{Hex(range.End.Value - 1)}";

    private static string Mib(ulong bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):0.#} MiB");

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>crash estimate's report: what the load takes, the measured runtime, the total, the reservation and a suggested crashkernel=.</summary>
    public static IEnumerable<string> Estimate(CrashReservation estimate, string kernel, string? initrd, long initrdBytes, CrashMachine machine)
    {
        yield return $"kernel:         {kernel}";
        yield return $"initrd:         {initrd ?? "none given; assuming the 9 MB capture initramfs"} ({Mib((ulong)initrdBytes)})";
        yield return $"machine:        {machine.Cpus} CPUs, {Mib(machine.TotalRam)} RAM in {machine.RamRanges} ranges";
        yield return $"load:           {Mib(estimate.Load)} (kernel init_size, initrd, ELF core header, boot_params, purgatory, the kernel's control pages)";
        yield return $"runtime:        {Mib(estimate.Runtime)} (measured with Debian {estimate.MeasuredFor}: the crash kernel booting and capturing)";
        yield return $"needed:         {Mib(estimate.Needed)}";
        yield return $"reserved:       {(estimate.Reserved is { } r ? r == 0 ? "none (no crashkernel= on the kernel command line)" : Mib(r) : "unknown (kexec_crash_size unreadable)")}";
        yield return $"suggested:      {estimate.SuggestedParameter}";
        yield return estimate.Suffices
            ? "verdict:        the reservation suffices"
            : $"verdict:        the reservation is too small; boot with {estimate.SuggestedParameter}";
    }
}
