namespace KdumpSharp.Symbols;

/// <summary>
/// One kernel symbol: its name, runtime (KASLR-relocated) address and nm type letter
/// (t/T text, d/D data, b/B bss, r/R read-only, A absolute...). Kallsyms stores no sizes, so a
/// symbol's extent is taken to reach the next symbol's address (see <see cref="SymbolTable"/>).
/// </summary>
public readonly record struct KernelSymbol(string Name, ulong Address, char Type)
{
    public bool IsText => Type is 't' or 'T' or 'w' or 'W';
}
