using System.CommandLine;

namespace KdumpSharp.Analyzer;

/// <summary>The kds-analyzer command line: parses arguments, calls Core, prints.</summary>
public static class AnalyzerCli
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("kds-analyzer: read Linux kernel crash dumps without debuginfo");
        ParseResult parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}
