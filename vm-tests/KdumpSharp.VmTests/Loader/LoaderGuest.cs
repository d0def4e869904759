using System.Text;
using KdumpSharp.Initramfs;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Loader;

/// <summary>
/// The kds-loader test guest's initramfs: busybox, the published single-file kds-loader with the
/// libraries it needs, the virtio disk modules and loader-guest-init.sh as /init. The second
/// kernel of a kexec reboot boots the same image.
/// </summary>
internal static class LoaderGuest
{
    public static IReadOnlyList<string> Applets { get; } =
        ["sh", "mount", "insmod", "cat", "dd", "stat", "head", "mkdir", "sleep", "sync", "uname", "poweroff"];

    /// <summary>loader-guest-init.sh, read from the source tree next to this file.</summary>
    public static string InitScript { get; } =
        File.ReadAllText(Path.Combine(PublishedProgram.RepositoryRoot, "vm-tests", "KdumpSharp.VmTests", "Loader", "loader-guest-init.sh"));

    public static void BuildInitramfs(TestKernel kernel, string path)
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
        writer.Finish();
    }

    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
}
