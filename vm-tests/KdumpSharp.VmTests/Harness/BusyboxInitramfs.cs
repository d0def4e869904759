using System.Reflection;
using System.Text;
using KdumpSharp.Initramfs;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// The parts every busybox test guest's initramfs shares (the dump harness's, the loader's, the
/// makedumpfile crash kernel's and the bench's realistic guest), written with the product's
/// <see cref="NewcArchiveWriter"/> and resolvers: the console and mount points, an /init script
/// with the shell functions every such script sources (guest-lib.sh), executables with their
/// shared-library closure, busybox applet links, and the kernel modules with the load-order list
/// the scripts insmod from.
/// </summary>
public static class BusyboxInitramfs
{
    public const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>The module list guest-lib.sh's load_modules reads, one absolute path a line, in load order.</summary>
    public const string ModuleListPath = "etc/kds/modules";

    /// <summary>Where <see cref="AddInit"/> puts <see cref="GuestLibrary"/>; each /init sources it with ". /guest-lib.sh".</summary>
    public const string GuestLibraryPath = "guest-lib.sh";

    /// <summary>guest-lib.sh, embedded in this assembly: the functions the guests' /init scripts share.</summary>
    public static string GuestLibrary { get; } = EmbeddedText("guest-lib.sh");

    /// <summary>
    /// /dev/console (the kernel opens it for init's stdio before /init can mount devtmpfs), /proc,
    /// /sys, <paramref name="script"/> as /init and <see cref="GuestLibrary"/> beside it. Returns
    /// the archive paths of the two files.
    /// </summary>
    public static IReadOnlyList<string> AddInit(NewcArchiveWriter writer, string script)
    {
        writer.AddCharacterDevice("dev/console", UnixFileMode.UserRead | UnixFileMode.UserWrite, 5, 1);
        writer.AddDirectory("proc");
        writer.AddDirectory("sys");
        writer.AddFile("init", Encoding.UTF8.GetBytes(script), Mode0755);
        writer.AddFile(GuestLibraryPath, Encoding.UTF8.GetBytes(GuestLibrary), Mode0644);
        return ["init", GuestLibraryPath];
    }

    /// <summary>A text file embedded in this assembly under <paramref name="name"/> (its LogicalName in the project file).</summary>
    public static string EmbeddedText(string name)
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not embedded in the test assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
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
    /// The modules of <paramref name="modules"/> under lib/modules/RELEASE and their list at
    /// <see cref="ModuleListPath"/>, written by the product's crash initramfs code so the guests'
    /// boots exercise it. Returns the archive paths added.
    /// </summary>
    public static IReadOnlyList<string> AddModules(NewcArchiveWriter writer, TestKernel kernel, KernelModuleClosure modules) =>
        CrashInitramfsBuilder.AddModules(writer, kernel.Release, modules, ModuleListPath);
}
