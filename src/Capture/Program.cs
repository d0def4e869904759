namespace KdumpSharp.Capture;

public static class Program
{
    public static int Main(string[] args) =>
        InitMode.Applies ? InitMode.Run(Console.Out) : CaptureCli.Run(args, Console.Out, Console.Error);
}
