using KdumpSharp.VmTests.Demo;

namespace KdumpSharp.Demo;

/// <summary>
/// kds-demo [WORK-DIRECTORY]: runs <see cref="MainJobDemo"/> and narrates it on stdout. Exit 0 when
/// the dump was captured and read; 1 with one line on stderr (and the console tail) when a step failed.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 1 || args is ["-h" or "--help"])
        {
            Console.Error.WriteLine("usage: kds-demo [WORK-DIRECTORY]   (default: artifacts/demo under the current directory)");
            return 2;
        }
        string work = Path.GetFullPath(args.Length == 1 ? args[0] : Path.Combine("artifacts", "demo"));
        try
        {
            new MainJobDemo(Console.Out).Run(work);
            return 0;
        }
        catch (MainJobDemoException e)
        {
            Console.Error.WriteLine($"kds-demo: {e.Message.TrimEnd()}");
            return 1;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or TimeoutException)
        {
            Console.Error.WriteLine($"kds-demo: {e.Message.ReplaceLineEndings(" ").Trim()}");
            return 1;
        }
    }
}
