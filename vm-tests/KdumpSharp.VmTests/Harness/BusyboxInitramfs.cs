using System.Text;
using KdumpSharp.Initramfs;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// The parts every busybox test guest's initramfs shares (the dump harness's, the loader's, the
/// makedumpfile crash kernel's and the bench's realistic guest), written with the product's
/// <see cref="NewcArchiveWriter"/> and resolvers: the console and mount points, an /init script,
/// executables with their shared-library closure, busybox applet links, and the kernel modules
/// with the load-order list the init scripts insmod from.
/// </summary>
public static class BusyboxInitramfs
{
    public const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>/dev/console (the kernel opens it for init's stdio before /init can mount devtmpfs), /proc, /sys and /init.</summary>
    public static void AddInit(NewcArchiveWriter writer, string script)
    {
        writer.AddCharacterDevice("dev/console", UnixFileMode.UserRead | UnixFileMode.UserWrite, 5, 1);
        writer.AddDirectory("proc");
        writer.AddDirectory("sys");
        writer.AddFile("init", Encoding.UTF8.GetBytes(script), Mode0755);
    }

    /// <summary>
    /// <paramref name="executable"/> and the libraries it loads, each at its host path unless
    /// <paramref name="executablePath"/> moves the executable; files already in the archive are
    /// skipped. <paramref name="mode"/> null keeps each host file's mode. Returns the archive paths added.
    /// </summary>
    public static List<string> AddWithLibraries(NewcArchiveWriter writer, SharedLibraryResolver resolver, string executable,
        string? executablePath = null, UnixFileMode? mode = null)
    {
        var added = new List<string>();
        foreach (SharedObject file in resolver.Resolve(executable).Files)
        {
            string target = file.Path == executable && executablePath is not null ? executablePath : file.Path;
            if (writer.Contains(target))
                continue;
            writer.AddFileFromHost(target, file.HostPath, mode);
            added.Add(target.TrimStart('/'));
        }
        return added;
    }

    /// <summary>A symlink to busybox in <paramref name="directory"/> for each applet.</summary>
    public static void AddApplets(NewcArchiveWriter writer, string directory, IEnumerable<string> applets)
    {
        foreach (string applet in applets)
            writer.AddSymlink($"{directory.TrimEnd('/')}/{applet}", "busybox");
    }

    /// <summary>
    /// The modules of <paramref name="modules"/> under lib/modules/RELEASE, copied as they are
    /// (busybox insmod and the kernel read .ko.xz themselves), and at <paramref name="listPath"/>
    /// their absolute paths in load order, one per line. Returns the archive paths added.
    /// </summary>
    public static List<string> AddModules(NewcArchiveWriter writer, TestKernel kernel, KernelModuleClosure modules, string listPath)
    {
        var added = new List<string>();
        var list = new StringBuilder();
        foreach (KernelModule module in modules.LoadOrder)
        {
            string archivePath = $"lib/modules/{kernel.Release}/{module.RelativePath}";
            writer.AddFileFromHost(archivePath, module.FullPath, Mode0644);
            added.Add(archivePath);
            list.Append('/').Append(archivePath).Append('\n');
        }
        writer.AddFile(listPath, Encoding.UTF8.GetBytes(list.ToString()), Mode0644);
        added.Add(listPath);
        return added;
    }
}
