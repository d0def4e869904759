using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Modules;
using KdumpSharp.Symbols;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>mod DUMP [--symbols]</c>: loaded modules with base and size, optionally their symbols, like crash's mod.</summary>
internal static class ModCommand
{
    public static Command Create(Stream output, TextWriter error)
    {
        var options = new KernelContextOptions();
        var symbols = new Option<bool>("--symbols", "-s") { Description = "also list each module's symbols (from its in-memory kallsyms)" };
        var command = new Command("mod", "list the loaded kernel modules (struct module address, name, base, size, symbol count)");
        options.AddTo(command);
        command.Options.Add(symbols);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            bool listSymbols = parse.GetValue(symbols);
            (IReadOnlyList<LoadedModule> modules, IReadOnlyList<string> problems) = ModuleList.Read(context, withSymbols: true);
            using StreamWriter w = AnalyzerCli.Text(output);
            w.WriteLine("     MODULE        NAME                      BASE           SIZE  SYMBOLS");
            foreach (LoadedModule m in modules.OrderBy(m => m.Base))
            {
                w.WriteLine($"{m.Address:x16}  {m.Name,-20} {m.Base:x16} {m.Size,8}  {(m.Symbols is null ? "?" : m.Symbols.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))}");
                if (listSymbols && m.Symbols is not null)
                    foreach (KernelSymbol s in m.Symbols.OrderBy(s => s.Address))
                        w.WriteLine($"    {s.Address:x16} ({s.Type}) {s.Name}");
            }
            foreach (LoadedModule m in modules.Where(m => m.SymbolProblem is not null))
                error.WriteLine($"kds-analyzer: warning: symbols of {m.Name}: {m.SymbolProblem}");
            foreach (string problem in problems)
                error.WriteLine($"kds-analyzer: warning: {problem}");
            return ExitCodes.Success;
        });
        return command;
    }
}
