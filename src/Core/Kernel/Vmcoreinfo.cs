using System.Globalization;
using System.Text;

namespace KdumpSharp.Kernel;

/// <summary>
/// The crashed kernel's VMCOREINFO note: <c>KEY=VALUE</c> lines written by kernel/vmcore_info.c
/// (kernel/crash_core.c before 6.9) and arch/x86/kernel/vmcore_info_64.c. Value syntax follows
/// include/linux/vmcore_info.h: SYMBOL and KERNELOFFSET are hex without 0x, SIZE/OFFSET/LENGTH
/// unsigned decimal, NUMBER signed decimal (or 0x-prefixed hex, e.g. NUMBER(VMALLOC_START)).
/// </summary>
public sealed class Vmcoreinfo
{
    private readonly Dictionary<string, string> _entries;

    private Vmcoreinfo(string text, Dictionary<string, string> entries)
    {
        Text = text;
        _entries = entries;
    }

    /// <summary>The raw note text, as the kernel wrote it.</summary>
    public string Text { get; }

    public IReadOnlyDictionary<string, string> Entries => _entries;

    public static Vmcoreinfo Parse(ReadOnlySpan<byte> descriptor)
    {
        int nul = descriptor.IndexOf((byte)0);
        string text = Encoding.ASCII.GetString(nul >= 0 ? descriptor[..nul] : descriptor);
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n'))
        {
            int eq = line.IndexOf('=');
            if (eq > 0)
                entries[line[..eq]] = line[(eq + 1)..];
        }
        return new Vmcoreinfo(text, entries);
    }

    public string? OsRelease => Get("OSRELEASE");
    public string? BuildId => Get("BUILD-ID");
    public long? PageSize => Decimal("PAGESIZE");
    public ulong? KernelOffset => Hex("KERNELOFFSET");

    /// <summary>Unix time of the crash, appended at panic by crash_save_vmcoreinfo().</summary>
    public long? CrashTime => Decimal("CRASHTIME");

    public string? Get(string key) => _entries.TryGetValue(key, out string? v) ? v : null;

    /// <summary>SYMBOL(name): the runtime (KASLR-relocated) address.</summary>
    public ulong? Symbol(string name) => Hex($"SYMBOL({name})");

    /// <summary>SIZE(name) in bytes.</summary>
    public ulong? Size(string name) => Unsigned($"SIZE({name})");

    /// <summary>OFFSET(struct.field) in bytes.</summary>
    public ulong? Offset(string structAndField) => Unsigned($"OFFSET({structAndField})");

    /// <summary>LENGTH(name): an array's element count.</summary>
    public ulong? Length(string name) => Unsigned($"LENGTH({name})");

    /// <summary>NUMBER(name): signed; decimal, or hex with a 0x prefix.</summary>
    public long? Number(string name)
    {
        string? v = Get($"NUMBER({name})");
        if (v is null)
            return null;
        if (v.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(v.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong h) ? (long)h : null;
        return long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long d) ? d : null;
    }

    public ulong RequireSymbol(string name) => Symbol(name) ?? throw Missing($"SYMBOL({name})");
    public ulong RequireSize(string name) => Size(name) ?? throw Missing($"SIZE({name})");
    public ulong RequireOffset(string structAndField) => Offset(structAndField) ?? throw Missing($"OFFSET({structAndField})");
    public ulong RequireLength(string name) => Length(name) ?? throw Missing($"LENGTH({name})");
    public long RequireNumber(string name) => Number(name) ?? throw Missing($"NUMBER({name})");

    private static KernelDataException Missing(string key) => new($"the dump's VMCOREINFO has no {key}");

    private ulong? Hex(string key)
    {
        string? v = Get(key);
        if (v is null)
            return null;
        ReadOnlySpan<char> s = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? v.AsSpan(2) : v;
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong r) ? r : null;
    }

    private ulong? Unsigned(string key) =>
        Get(key) is string v && ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong r) ? r : null;

    private long? Decimal(string key) =>
        Get(key) is string v && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long r) ? r : null;
}
