using System.CommandLine;
using System.Globalization;
using KdumpSharp.Analysis;
using KdumpSharp.Symbols;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>sym DUMP NAME|ADDRESS</c>: a symbol's address and type, or the symbol an address falls in, like crash's sym.</summary>
internal static class SymCommand
{
    public static Command Create(Stream output)
    {
        var options = new KernelContextOptions();
        var query = new Argument<string>("name-or-address") { Description = "an exact symbol name, or a kernel address in hex (0x optional)" };
        var command = new Command("sym", "translate a symbol name to its address, or an address to symbol+offset, from the dump's own kallsyms");
        options.AddTo(command);
        command.Arguments.Add(query);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            SymbolTable symbols = context.Symbols;
            string text = parse.GetValue(query)!;
            using StreamWriter w = AnalyzerCli.Text(output);
            if (symbols.Find(text) is KernelSymbol byName)
            {
                w.WriteLine($"{byName.Address:x16} ({byName.Type}) {byName.Name}{PerCpuNote(symbols, byName)}");
                return ExitCodes.Success;
            }
            if (!TryParseHex(text, out ulong address))
                throw new Kernel.KernelDataException($"no symbol named {text} in {symbols.Source}");
            SymbolOffset hit = symbols.Lookup(address)
                ?? throw new Kernel.KernelDataException($"0x{address:x} is not inside any symbol in {symbols.Source}");
            w.WriteLine($"{address:x16} ({hit.Symbol.Type}) {hit}/0x{hit.Size:x}{PerCpuNote(symbols, hit.Symbol)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string PerCpuNote(SymbolTable symbols, KernelSymbol s) =>
        symbols.Address("__per_cpu_end") is ulong end && s.Address < end ? " [per-CPU offset]" : "";

    private static bool TryParseHex(string text, out ulong value)
    {
        string t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return ulong.TryParse(t, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
