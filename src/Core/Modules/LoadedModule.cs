using KdumpSharp.Symbols;

namespace KdumpSharp.Modules;

/// <summary>
/// A loaded kernel module: its <c>struct module</c> address, name, where its core (non-init) memory
/// starts and how large it is, and its symbols from the module's own kallsyms (null when they
/// could not be read).
/// </summary>
public sealed record LoadedModule(ulong Address, string Name, ulong Base, ulong Size, IReadOnlyList<KernelSymbol>? Symbols, string? SymbolProblem);
