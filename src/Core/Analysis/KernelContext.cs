using KdumpSharp.Kernel;
using KdumpSharp.Symbols;

namespace KdumpSharp.Analysis;

/// <summary>
/// What the dump says about its own kernel without any debuginfo: symbols (kallsyms, or a
/// System.map given by the user), built on first use over a <see cref="KernelDump"/>.
/// </summary>
public sealed class KernelContext
{
    private SymbolTable? _symbols;

    public KernelContext(KernelDump dump, SymbolTable? symbolOverride = null)
    {
        Dump = dump;
        _symbols = symbolOverride;
    }

    public KernelDump Dump { get; }

    /// <summary>The kernel's symbols: kallsyms decoded from the dump (Linux 6.0+), unless overridden.</summary>
    public SymbolTable Symbols => _symbols ??= KallsymsReader.Read(Dump.Virtual,
        KallsymsLocation.FromVmcoreinfo(Dump.Vmcoreinfo)
        ?? throw new KernelDataException("the dump's VMCOREINFO has no kallsyms tables (kernel older than 6.0?): give a System.map with --symbols"));

    /// <summary>Reads a System.map and relocates it by the dump's KASLR offset.</summary>
    public static SymbolTable LoadSystemMap(string path, KernelDump dump)
    {
        using var reader = new StreamReader(path);
        return SymbolTable.FromSystemMap(reader, path, dump.Vmcoreinfo.KernelOffset ?? 0);
    }
}
