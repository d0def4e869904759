using System.CommandLine;
using System.Text;
using KdumpSharp.Analyzer.Commands;

namespace KdumpSharp.Analyzer;

/// <summary>The kds-analyzer command line: parses arguments, calls Core, prints.</summary>
public static class AnalyzerCli
{
    /// <summary>Runs one command. Standard output is a byte stream because dmesg writes the log's raw bytes.</summary>
    public static int Run(string[] args, Stream output, TextWriter error)
    {
        var root = new RootCommand("kds-analyzer: read Linux kernel crash dumps (ELF, kdump-compressed, flattened, KdumpSharp) without debuginfo")
        {
            InfoCommand.Create(output),
            DmesgCommand.Create(output, error),
            RdCommand.Create(output),
            ConvertCommand.Create(output),
            SymCommand.Create(output),
            StructCommand.Create(output),
            PsCommand.Create(output, error),
            BtCommand.Create(output),
            TriageCommand.Create(output),
            ModCommand.Create(output, error),
        };
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
                error.WriteLine($"kds-analyzer: {e.Message}");
            error.WriteLine("Try 'kds-analyzer --help'.");
            return ExitCodes.Usage;
        }
        using var helpOutput = Text(output);
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = helpOutput, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ErrorRenderer.Render(e, error);
        }
    }

    /// <summary>The dump argument every command takes.</summary>
    internal static Argument<string> DumpArgument() => new("dump") { Description = "the dump file (format detected from its content)" };

    /// <summary>A UTF-8 text writer over standard output that leaves the stream open.</summary>
    internal static StreamWriter Text(Stream output) => new(output, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
}
