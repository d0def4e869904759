using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// /sys/kernel/vmcoreinfo (kernel/ksysfs.c vmcoreinfo_show): "0x%016llx %x\n", the physical address
/// of the VMCOREINFO ELF note and its size in hexadecimal.
/// </summary>
public readonly record struct VmcoreinfoNoteLocation(PhysicalAddress Address, ulong Size)
{
    public static VmcoreinfoNoteLocation Parse(string source, string text)
    {
        string[] parts = text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !parts[0].StartsWith("0x", StringComparison.Ordinal)
            || !ulong.TryParse(parts[0].AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address)
            || !ulong.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong size)
            || address == 0 || size == 0 || size > 1 << 20)
            throw new KexecException($"{source}: \"{text.Trim()}\" is not \"0xADDRESS SIZE\"", hint: "run as root");
        return new VmcoreinfoNoteLocation(new PhysicalAddress(address), size);
    }
}
