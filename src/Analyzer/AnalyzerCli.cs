using System.CommandLine;
using KdumpSharp.Analyzer.Commands;

namespace KdumpSharp.Analyzer;

/// <summary>The kds-analyzer command line: parses arguments, calls Core, prints.</summary>
public static class AnalyzerCli
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("kds-analyzer: read Linux kernel crash dumps (ELF, kdump-compressed, flattened, KdumpSharp) without debuginfo")
        {
            RdCommand.Create(output),
            ConvertCommand.Create(output, error),
        };
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
                error.WriteLine($"kds-analyzer: {e.Message}");
            error.WriteLine("Try 'kds-analyzer --help'.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ErrorRenderer.Render(e, error);
        }
    }

    /// <summary>The dump argument every command takes.</summary>
    internal static Argument<string> DumpArgument() => new("dump") { Description = "the dump file (format detected from its content)" };
}
