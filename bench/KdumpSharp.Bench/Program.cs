namespace KdumpSharp.Bench;

public static class Program
{
    public static int Main(string[] args) => BenchCli.Run(args);
}
