using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Loader;

/// <summary>
/// The kds-loader test guest's initramfs: busybox, the published single-file kds-loader with the
/// libraries it needs, the virtio disk modules and loader-guest-init.sh as /init (with
/// guest-lib.sh). The second
/// kernel of a kexec reboot boots the same image. The crash scenario's image also holds what
/// <c>kds-loader crash load</c> needs to build our crash initramfs (<see cref="CrashReadyGuest"/>).
/// </summary>
internal static class LoaderGuest
{
    public static IReadOnlyList<string> Applets { get; } =
        ["sh", "mount", "insmod", "cat", "dd", "stat", "head", "sed", "mkdir", "sleep", "sync", "uname", "poweroff"];

    /// <summary>loader-guest-init.sh, read from the source tree next to this file.</summary>
    public static string InitScript { get; } =
        File.ReadAllText(Path.Combine(PublishedProgram.RepositoryRoot, "vm-tests", "KdumpSharp.VmTests", "Loader", "loader-guest-init.sh"));

    /// <param name="crashReady">capture.conf for a guest that builds our crash initramfs; null for a guest that only loads the kernel it is given.</param>
    /// <param name="initScript">/init; null for <see cref="InitScript"/>. The demo's machine is this guest with its own /init.</param>
    public static void BuildInitramfs(TestKernel kernel, string path, CaptureConfiguration? crashReady = null, string? initScript = null)
    {
        KernelModuleClosure modules = new KernelModuleResolver(kernel.ModulesDirectory).Resolve(GuestImage.Modules);
        string loader = PublishedProgram.Loader.Executable;
        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip);
        BusyboxInitramfs.AddInit(writer, initScript ?? InitScript);
        var resolver = new SharedLibraryResolver();
        BusyboxInitramfs.AddWithLibraries(writer, resolver, "/bin/busybox");
        BusyboxInitramfs.AddWithLibraries(writer, resolver, loader, "usr/bin/kds-loader", BusyboxInitramfs.Mode0755);
        BusyboxInitramfs.AddApplets(writer, "/bin", Applets);
        BusyboxInitramfs.AddModules(writer, kernel, modules);
        if (crashReady is not null)
            CrashReadyGuest.AddTo(writer, kernel, crashReady);
        writer.Finish();
    }
}
