using System.Text;

namespace KdumpSharp.Capture;

public static class Program
{
    public static int Main(string[] args)
    {
        // UTF-8 set, not detected: detecting the console's encoding looks LANG's charset up in the runtime's
        // encoding tables, ~8 % of the CPU time from Main to the first page read (perf, 8 runs of a level-31
        // capture). What kds-capture prints is ASCII and paths, which are bytes the kernel gave as UTF-8.
        Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        return InitMode.Applies ? InitMode.Run(Console.Out) : CaptureCli.Run(args, Console.Out, Console.Error);
    }
}
