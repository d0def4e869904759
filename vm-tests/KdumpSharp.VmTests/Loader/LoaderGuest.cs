using System.Text;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Loader;

/// <summary>
/// The kds-loader test guest's initramfs: busybox, the published single-file kds-loader with the
/// libraries it needs, the virtio disk modules and loader-guest-init.sh as /init. The second
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
    public static void BuildInitramfs(TestKernel kernel, string path, CaptureConfiguration? crashReady = null)
    {
        KernelModuleClosure modules = new KernelModuleResolver(kernel.ModulesDirectory).Resolve(GuestImage.Modules);
        string loader = PublishedProgram.Loader.Executable;
        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip);
        writer.AddCharacterDevice("dev/console", UnixFileMode.UserRead | UnixFileMode.UserWrite, 5, 1);
        foreach (string mountPoint in new[] { "proc", "sys" })
            writer.AddDirectory(mountPoint);
        writer.AddFile("init", Encoding.UTF8.GetBytes(InitScript), Mode0755);

        var resolver = new SharedLibraryResolver();
        ExecutableDependencies busybox = resolver.Resolve("/bin/busybox");
        ExecutableDependencies kdsLoader = resolver.Resolve(loader);
        foreach (SharedObject file in busybox.Files.Concat(kdsLoader.Files.Skip(1)))
        {
            if (!writer.Contains(file.Path))
                writer.AddFileFromHost(file.Path, file.HostPath);
        }
        writer.AddFileFromHost("usr/bin/kds-loader", loader, Mode0755);
        foreach (string applet in Applets)
            writer.AddSymlink($"/bin/{applet}", "busybox");

        var list = new StringBuilder();
        foreach (KernelModule module in modules.LoadOrder)
        {
            string archivePath = $"lib/modules/{kernel.Release}/{module.RelativePath}";
            writer.AddFileFromHost(archivePath, module.FullPath, Mode0644);
            list.Append('/').Append(archivePath).Append('\n');
        }
        writer.AddFile("etc/kds/modules", Encoding.UTF8.GetBytes(list.ToString()), Mode0644);
        if (crashReady is not null)
            CrashReadyGuest.AddTo(writer, kernel, crashReady);
        writer.Finish();
    }

    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
}
