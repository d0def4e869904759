namespace KdumpSharp.Analyzer;

public static class Program
{
    public static int Main(string[] args)
    {
        using Stream stdout = Console.OpenStandardOutput();
        return AnalyzerCli.Run(args, stdout, Console.Error);
    }
}
