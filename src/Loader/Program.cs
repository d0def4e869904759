namespace KdumpSharp.Loader;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("kds-loader: no commands yet");
        return 2;
    }
}
