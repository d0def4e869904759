namespace KdumpSharp.Capture;

public static class Program
{
    public static int Main(string[] args) => CaptureCli.Run(args, Console.Out, Console.Error);
}
