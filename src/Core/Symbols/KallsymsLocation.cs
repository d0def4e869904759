using KdumpSharp.Kernel;

namespace KdumpSharp.Symbols;

/// <summary>
/// Where the kernel's compressed symbol table lies (scripts/kallsyms.c output, kernel/kallsyms.c
/// reader). Linux 6.0 added these addresses to VMCOREINFO (kernel/crash_core.c, "vmcoreinfo:
/// include kallsyms symbols"), so a dump of any 6.0+ kernel carries its own symbols.
/// </summary>
public sealed record KallsymsLocation(
    ulong NumSyms,
    ulong Names,
    ulong TokenTable,
    ulong TokenIndex,
    ulong Offsets,
    ulong RelativeBase,
    ulong Stext,
    bool LongNames)
{
    /// <summary>
    /// The tables named by VMCOREINFO, or null when the kernel predates 6.0. The 2-byte name
    /// length (kallsyms "big symbols", 6.1) cannot be detected from the tables, so it is keyed on
    /// OSRELEASE, as drgn does (libdrgn/kallsyms.c).
    /// </summary>
    public static KallsymsLocation? FromVmcoreinfo(Vmcoreinfo info)
    {
        if (info.Symbol("kallsyms_names") is not ulong names
            || info.Symbol("kallsyms_num_syms") is not ulong num
            || info.Symbol("kallsyms_token_table") is not ulong table
            || info.Symbol("kallsyms_token_index") is not ulong index
            || info.Symbol("kallsyms_offsets") is not ulong offsets
            || info.Symbol("kallsyms_relative_base") is not ulong relativeBase
            || info.Symbol("_stext") is not ulong stext)
            return null;
        return new KallsymsLocation(num, names, table, index, offsets, relativeBase, stext, HasLongNames(info.OsRelease));
    }

    internal static bool HasLongNames(string? osRelease)
    {
        if (osRelease is null)
            return true;
        string[] parts = osRelease.Split('.', '-', '+');
        if (parts.Length < 2 || !int.TryParse(parts[0], out int major) || !int.TryParse(parts[1], out int minor))
            return true;
        return major > 6 || (major == 6 && minor >= 1);
    }
}
