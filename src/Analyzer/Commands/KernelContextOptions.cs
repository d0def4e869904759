using System.CommandLine;
using KdumpSharp.Analysis;

namespace KdumpSharp.Analyzer.Commands;

/// <summary>The options every symbol-using command shares, and the context they open.</summary>
internal sealed class KernelContextOptions
{
    public Argument<string> Dump { get; } = AnalyzerCli.DumpArgument();

    public Option<string?> SystemMap { get; } = new("--system-map")
    {
        Description = "take symbols from this System.map (relocated by the dump's KASLR offset) instead of the dump's kallsyms",
    };

    public void AddTo(Command command)
    {
        command.Arguments.Add(Dump);
        command.Options.Add(SystemMap);
    }

    /// <summary>Opens the dump; the caller disposes <see cref="KernelContext.Dump"/>.</summary>
    public KernelContext Open(ParseResult parse)
    {
        KernelDump dump = KernelDump.Open(parse.GetValue(Dump)!);
        try
        {
            string? map = parse.GetValue(SystemMap);
            return new KernelContext(dump, map is null ? null : KernelContext.LoadSystemMap(map, dump));
        }
        catch
        {
            dump.Dispose();
            throw;
        }
    }
}
