namespace KdumpSharp.Analyzer;

public static class Program
{
    public static int Main(string[] args) => AnalyzerCli.Run(args, Console.Out, Console.Error);
}
