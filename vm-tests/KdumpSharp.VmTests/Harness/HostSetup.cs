using System.Diagnostics;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// Makes sure the host has what the VM tests run: the packages and kernels scripts/setup.sh
/// installs. The script is idempotent; it runs at most once per process, and only when
/// something is missing.
/// </summary>
internal static class HostSetup
{
    /// <summary>Host programs the harness starts or copies into the guest.</summary>
    public static IReadOnlyList<string> Tools { get; } =
    [
        "/usr/bin/qemu-system-x86_64", "/usr/bin/makedumpfile", "/usr/sbin/vmcore-dmesg",
        "/usr/sbin/kexec", "/bin/busybox", "/usr/sbin/depmod",
    ];

    private static readonly Lock Gate = new();
    private static bool _ran;

    public static bool ToolsPresent => Tools.All(File.Exists);

    /// <summary>The repository checkout the tests were built from (it holds scripts/setup.sh).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "scripts", "setup.sh")))
                    return dir.FullName;
            }
            throw new InvalidOperationException($"no scripts/setup.sh above {AppContext.BaseDirectory}");
        }
    }

    public static void Ensure(Func<bool> ready, string what)
    {
        lock (Gate)
        {
            if (ready())
                return;
            if (!_ran)
            {
                RunSetupScript();
                _ran = true;
            }
            if (!ready())
                throw new InvalidOperationException($"scripts/setup.sh ran but {what} or one of {string.Join(", ", Tools)} is still missing");
        }
    }

    private static void RunSetupScript()
    {
        string script = Path.Combine(RepositoryRoot, "scripts", "setup.sh");
        TestContext.Progress.WriteLine($"VM tests: running {script}");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} did not finish in 30 minutes");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} exited with {process.ExitCode}: {stderr.Result}{stdout.Result}");
    }
}
