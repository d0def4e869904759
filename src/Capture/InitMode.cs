using KdumpSharp.CrashEnvironment;

namespace KdumpSharp.Capture;

/// <summary>
/// kds-capture started as the crash kernel's /init (PID 1): runs the crash environment from
/// /etc/kdumpsharp/capture.conf and ends with its final or failure action. Only PID 1 does this
/// (there is no flag for it: it mounts, loads modules and reboots). The kernel passes init the
/// command-line words it does not know, so arguments are ignored.
/// </summary>
internal static class InitMode
{
    public static bool Applies => CrashInit.IsProcessOne;

    public static int Run(TextWriter console)
    {
        var init = new CrashInit(console, total => new ConsoleProgress(console, total));
        CrashAction action = init.Run();
        CrashInit.Perform(action, console);
        return ExitCodes.InternalError;
    }
}
