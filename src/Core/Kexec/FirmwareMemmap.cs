using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// /sys/firmware/memmap/N/{start,end,type} (drivers/firmware/memmap.c): the e820 table the firmware
/// handed to the running kernel, before the kernel's own reservations. start and end are "0x%llx",
/// end inclusive; type is the e820 name.
/// </summary>
public static class FirmwareMemmap
{
    private const int MaxEntries = 4096;

    /// <summary>Reads every entry below <paramref name="directory"/>, sorted by address; unknown type names become Reserved.</summary>
    public static IReadOnlyList<E820Entry> Read(string directory)
    {
        var entries = new List<E820Entry>();
        foreach (string entry in Directory.EnumerateDirectories(directory))
        {
            if (entries.Count >= MaxEntries)
                throw new KexecException($"{directory}: more than {MaxEntries} entries");
            ulong start = ReadHex(Path.Join(entry, "start"));
            ulong last = ReadHex(Path.Join(entry, "end"));
            string type = File.ReadAllText(Path.Join(entry, "type")).Trim();
            if (last < start || last == ulong.MaxValue)
                throw new KexecException($"{entry}: end 0x{last:x} is below start 0x{start:x}");
            entries.Add(new E820Entry(new PhysicalRange(new(start), new(last + 1)), E820Entry.TypeFromName(type) ?? E820Type.Reserved));
        }
        entries.Sort((a, b) => a.Range.Start.CompareTo(b.Range.Start));
        return entries;
    }

    private static ulong ReadHex(string path)
    {
        string text = File.ReadAllText(path).Trim();
        ReadOnlySpan<char> digits = text.StartsWith("0x", StringComparison.Ordinal) ? text.AsSpan(2) : text;
        if (!ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value))
            throw new KexecException($"{path}: \"{text}\" is not a hexadecimal address");
        return value;
    }
}
