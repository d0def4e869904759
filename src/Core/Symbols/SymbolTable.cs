using System.Globalization;
using KdumpSharp.Kernel;

namespace KdumpSharp.Symbols;

/// <summary>A resolved address: the symbol at or below it, the distance into it and the symbol's inferred extent.</summary>
public readonly record struct SymbolOffset(KernelSymbol Symbol, ulong Offset, ulong Size)
{
    public override string ToString() => Offset == 0 ? Symbol.Name : $"{Symbol.Name}+0x{Offset:x}";
}

/// <summary>
/// The kernel's symbols, searchable by name and by address. Sizes are not in kallsyms, so a
/// symbol is taken to extend to the next higher address, as kernel/kallsyms.c
/// get_symbol_pos() does for /proc/kallsyms lookups.
/// </summary>
public sealed class SymbolTable
{
    /// <summary>Symbols no larger than this are believed; a gap beyond it (e.g. between _etext and data) ends the lookup.</summary>
    public const ulong MaxInferredSize = 1 << 20;

    private readonly KernelSymbol[] _byAddress;
    private readonly Dictionary<string, KernelSymbol> _byName = new(StringComparer.Ordinal);

    public SymbolTable(IEnumerable<KernelSymbol> symbols, string source)
    {
        Source = source;
        _byAddress = symbols.ToArray();
        // Stable order by address, globals first at equal addresses so "T foo" wins over a local alias.
        _byAddress = _byAddress.Select((s, i) => (s, i))
            .OrderBy(p => p.s.Address).ThenBy(p => char.IsUpper(p.s.Type) ? 0 : 1).ThenBy(p => p.i)
            .Select(p => p.s).ToArray();
        foreach (KernelSymbol s in _byAddress)
            if (!_byName.TryGetValue(s.Name, out KernelSymbol existing) || (!char.IsUpper(existing.Type) && char.IsUpper(s.Type)))
                _byName[s.Name] = s;
    }

    /// <summary>Where the symbols came from (kallsyms in the dump, a System.map).</summary>
    public string Source { get; }

    public int Count => _byAddress.Length;

    public IReadOnlyList<KernelSymbol> Symbols => _byAddress;

    public KernelSymbol? Find(string name) => _byName.TryGetValue(name, out KernelSymbol s) ? s : null;

    public ulong? Address(string name) => Find(name)?.Address;

    public ulong RequireAddress(string name) =>
        Address(name) ?? throw new KernelDataException($"the kernel symbol {name} is not in {Source}");

    /// <summary>The symbol containing <paramref name="address"/>, or null if it lies before the first symbol or in a gap.</summary>
    public SymbolOffset? Lookup(ulong address)
    {
        int lo = 0, hi = _byAddress.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + (hi - lo) / 2;
            if (_byAddress[mid].Address <= address)
            {
                found = mid;
                lo = mid + 1;
            }
            else
                hi = mid - 1;
        }
        if (found < 0)
            return null;
        ulong start = _byAddress[found].Address;
        // Aliases share an address; the first one (a global if any) names it.
        int first = found;
        while (first > 0 && _byAddress[first - 1].Address == start)
            first--;
        ulong size = found + 1 < _byAddress.Length ? _byAddress[found + 1].Address - start : 0;
        if (size == 0 || size > MaxInferredSize)
        {
            if (address != start)
                return null;
            size = Math.Min(size, MaxInferredSize);
        }
        return new SymbolOffset(_byAddress[first], address - start, size);
    }

    /// <summary>
    /// Reads a System.map (<c>address type name</c> per line, nm output) and relocates it by the
    /// dump's KASLR offset (VMCOREINFO KERNELOFFSET). Only kernel-image addresses move: per-CPU
    /// symbols are offsets into the per-CPU area and stay as they are.
    /// </summary>
    public static SymbolTable FromSystemMap(TextReader map, string source, ulong kaslrOffset, int maxSymbols = (int)KallsymsReader.MaxSymbols)
    {
        var symbols = new List<KernelSymbol>();
        int lineNumber = 0;
        while (map.ReadLine() is string line)
        {
            lineNumber++;
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3 || fields[1].Length != 1
                || !ulong.TryParse(fields[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address))
                throw new KernelDataException($"{source}: line {lineNumber} is not \"ADDRESS TYPE NAME\"");
            if (symbols.Count >= maxSymbols)
                throw new KernelDataException($"{source}: more than {maxSymbols} symbols");
            if (address >= Architecture.X86_64VirtualMemory.StartKernelMap)
                address += kaslrOffset;
            symbols.Add(new KernelSymbol(fields[2], address, fields[1][0]));
        }
        if (symbols.Count == 0)
            throw new KernelDataException($"{source}: no symbols");
        return new SymbolTable(symbols, source);
    }
}
