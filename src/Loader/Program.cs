namespace KdumpSharp.Loader;

public static class Program
{
    public static int Main(string[] args) => LoaderCli.Run(args, Console.Out, Console.Error);
}
