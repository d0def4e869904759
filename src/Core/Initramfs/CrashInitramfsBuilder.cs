using System.Text;
using KdumpSharp.CrashEnvironment;

namespace KdumpSharp.Initramfs;

/// <summary>What goes into a crash initramfs.</summary>
public sealed record CrashInitramfsRequest
{
    /// <summary>The crash kernel's release, as lib/modules/&lt;release&gt; names it.</summary>
    public required string KernelRelease { get; init; }

    /// <summary>lib/modules/&lt;release&gt; on this machine, holding modules.dep and the module files.</summary>
    public required string ModulesDirectory { get; init; }

    /// <summary>The published kds-capture (self-contained, single file): the directory holding the <c>kds-capture</c> executable.</summary>
    public required string CaptureDirectory { get; init; }

    /// <summary>Target, format, actions and timeouts, written to /etc/kdumpsharp/capture.conf.</summary>
    public required CaptureConfiguration Configuration { get; init; }

    /// <summary>
    /// Modules to load before looking for the target: the device's driver chain
    /// (<see cref="BlockDeviceDrivers.ModulesFor"/>) and, for a file system target, the file
    /// system's (<see cref="BlockDeviceDrivers.ModulesForFileSystem"/>). Dependencies are added
    /// from modules.dep; built-in names are skipped.
    /// </summary>
    public IReadOnlyList<string> Modules { get; init; } = [];

    /// <summary>
    /// boot/config-&lt;release&gt;, if known: a compressed module is kept compressed only when the
    /// kernel can decompress it in finit_module (CONFIG_MODULE_DECOMPRESS); otherwise the build fails.
    /// </summary>
    public string? KernelConfig { get; init; }

    public InitramfsCompression Compression { get; init; } = InitramfsCompression.Gzip;

    /// <summary>A static shell (busybox) copied as /bin/sh for <see cref="CrashAction.Shell"/>; null for none, as in production.</summary>
    public string? DebugShell { get; init; }

    /// <summary>The file system the shared libraries are taken from.</summary>
    public string LibraryRoot { get; init; } = "/";
}

/// <summary>What a crash initramfs holds.</summary>
/// <param name="Files">Archive paths of regular files, in archive order.</param>
/// <param name="Modules">The module closure /init loads, in order.</param>
public sealed record CrashInitramfs(long CompressedBytes, long UncompressedBytes, IReadOnlyList<string> Files, KernelModuleClosure Modules);

/// <summary>
/// Builds the crash kernel's initramfs: kds-capture as /init with the shared libraries it maps and
/// the ones it dlopens (liblz4, libzstd, liblzo2), the target's kernel modules, and
/// /etc/kdumpsharp/capture.conf. No shell and no busybox unless a debug shell is asked for.
/// </summary>
/// <remarks>
/// CoreCLR reads /proc/self/exe (the single-file host finds its bundle through it) and
/// /proc/self/maps (glibc's pthread_getattr_np, for the main thread's stack) before any managed
/// code runs, so before /init can mount procfs. The image therefore carries a /proc/self/exe
/// link to /init and a one-line /proc/self/maps naming the stack where the kernel puts it when
/// address-space randomization is off (STACK_TOP, arch/x86/include/asm/processor.h). The crash
/// kernel's command line must hold <see cref="RequiredCommandLine"/>; with randomization on, glibc
/// does not find the stack and CoreCLR refuses to start, loudly. /init mounts procfs over them.
/// </remarks>
public static class CrashInitramfsBuilder
{
    /// <summary>Parameters the crash kernel's command line needs for this image.</summary>
    public const string RequiredCommandLine = "norandmaps";

    /// <summary>The module list /init reads, one archive path per line, in load order.</summary>
    public const string ModuleListPath = "/etc/kdumpsharp/modules";

    /// <summary>Libraries kds-capture opens with dlopen (its page codecs), so no DT_NEEDED names them.</summary>
    public static IReadOnlyList<string> CodecLibraries { get; } = ["liblz4.so.1", "libzstd.so.1", "liblzo2.so.2"];

    private const string CaptureExecutable = "kds-capture";

    /// <summary>x86_64 with 4-level paging: the top of the user address space, where the stack ends (TASK_SIZE_MAX).</summary>
    private const string StackMapsLine = "7fffff000000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n";

    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes the initramfs to a new file at <paramref name="path"/> (never overwrites; removed again if the build fails).</summary>
    public static CrashInitramfs Build(CrashInitramfsRequest request, string path)
    {
        CrashInitramfs result;
        var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        try
        {
            using (output)
                result = Build(request, output);
        }
        catch
        {
            // A half-written image must not be armed later by mistake; the file is ours (CreateNew).
            File.Delete(path);
            throw;
        }
        return result with { CompressedBytes = new FileInfo(path).Length };
    }

    /// <exception cref="InitramfsInputException">A library, module, modules.dep or the executable is missing or malformed.</exception>
    public static CrashInitramfs Build(CrashInitramfsRequest request, Stream output)
    {
        ArgumentNullException.ThrowIfNull(request);
        string executable = Path.Combine(request.CaptureDirectory, CaptureExecutable);
        if (!File.Exists(executable))
            throw new FileNotFoundException($"{executable}: no published kds-capture here (dotnet publish src/Capture -r linux-x64 --self-contained -p:PublishSingleFile=true)", executable);
        KernelModuleClosure modules = new KernelModuleResolver(request.ModulesDirectory).Resolve(request.Modules);
        CheckModuleCompression(request, modules);

        var files = new List<string>();
        long position = output.CanSeek ? output.Position : 0;
        long uncompressed;
        using (var writer = new NewcArchiveWriter(output, request.Compression, leaveOpen: true))
        {
            // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
            writer.AddCharacterDevice("dev/console", Mode0600, 5, 1);
            // CoreCLR's System.Native opens /dev/urandom once and remembers for good when it is
            // missing (pal_random.c), which at startup it is until devtmpfs is mounted; Guid.NewGuid
            // would then throw. The node keeps working under the devtmpfs mounted over /dev.
            writer.AddCharacterDevice("dev/urandom", Mode0644, 1, 9);
            writer.AddCharacterDevice("dev/null", Mode0644 | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite, 1, 3);
            writer.AddDirectory("sys");
            writer.AddSymlink("proc/self/exe", "/init");
            writer.AddFile("proc/self/maps", Encoding.ASCII.GetBytes(StackMapsLine), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            writer.AddFileFromHost("init", executable, Mode0755);
            files.Add("init");

            var resolver = new SharedLibraryResolver(request.LibraryRoot);
            AddClosure(writer, files, resolver.Resolve(executable.StartsWith('/') ? executable : Path.GetFullPath(executable)), skipExecutable: true);
            foreach (string library in CodecLibraries)
            {
                if (FindLibrary(request.LibraryRoot, library) is string libraryPath)
                    AddClosure(writer, files, resolver.Resolve(libraryPath), skipExecutable: false);
            }
            if (request.DebugShell is string shell)
            {
                AddClosure(writer, files, resolver.Resolve(shell), skipExecutable: true);
                writer.AddFileFromHost("bin/sh", shell, Mode0755);
                files.Add("bin/sh");
            }

            files.AddRange(AddModules(writer, request.KernelRelease, modules, ModuleListPath));
            writer.AddFile(CaptureConfiguration.DefaultPath, Encoding.UTF8.GetBytes(request.Configuration.ToText()), Mode0644);
            files.Add(CaptureConfiguration.DefaultPath.TrimStart('/'));
            writer.Finish();
            uncompressed = writer.UncompressedLength;
        }
        long compressed = output.CanSeek ? output.Position - position : 0;
        return new CrashInitramfs(compressed, uncompressed, files, modules);
    }

    /// <summary>
    /// Copies the modules of <paramref name="modules"/> as they are (a .ko.xz stays compressed for
    /// finit_module to unpack) to lib/modules/<paramref name="kernelRelease"/>/, and
    /// writes at <paramref name="listPath"/> their absolute paths in load order, one a line: the
    /// list an /init loads them from. The VM test guests build their module lists with it too, so
    /// their boots exercise this code. Returns the archive paths added, the list last.
    /// </summary>
    public static IReadOnlyList<string> AddModules(NewcArchiveWriter writer, string kernelRelease, KernelModuleClosure modules, string listPath)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(modules);
        var added = new List<string>();
        var list = new StringBuilder();
        foreach (KernelModule module in modules.LoadOrder)
        {
            string archivePath = $"lib/modules/{kernelRelease}/{module.RelativePath}";
            writer.AddFileFromHost(archivePath, module.FullPath, Mode0644);
            added.Add(archivePath);
            list.Append('/').Append(archivePath).Append('\n');
        }
        writer.AddFile(listPath, Encoding.UTF8.GetBytes(list.ToString()), Mode0644);
        added.Add(listPath.TrimStart('/'));
        return added;
    }

    /// <summary>
    /// Every host file the image copies, as (archive path, host path): the executable, the
    /// libraries it maps and dlopens, the debug shell and the module closure. The cache hashes them.
    /// </summary>
    public static IEnumerable<(string ArchivePath, string HostPath)> HostFiles(CrashInitramfsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string executable = Path.GetFullPath(Path.Combine(request.CaptureDirectory, CaptureExecutable));
        if (!File.Exists(executable))
            throw new FileNotFoundException($"{executable}: no published kds-capture here", executable);
        yield return ("init", executable);
        var resolver = new SharedLibraryResolver(request.LibraryRoot);
        var closures = new List<ExecutableDependencies> { resolver.Resolve(executable) };
        foreach (string library in CodecLibraries)
        {
            if (FindLibrary(request.LibraryRoot, library) is string libraryPath)
                closures.Add(resolver.Resolve(libraryPath));
        }
        if (request.DebugShell is string shell)
            closures.Add(resolver.Resolve(shell));
        foreach (SharedObject file in closures.SelectMany(c => c.Files))
            yield return (file.Path, file.HostPath);
        foreach (KernelModule module in new KernelModuleResolver(request.ModulesDirectory).Resolve(request.Modules).LoadOrder)
            yield return ($"lib/modules/{request.KernelRelease}/{module.RelativePath}", module.FullPath);
    }

    private static void AddClosure(NewcArchiveWriter writer, List<string> files, ExecutableDependencies dependencies, bool skipExecutable)
    {
        foreach (SharedObject file in dependencies.Files)
        {
            if (skipExecutable && ReferenceEquals(file, dependencies.Executable))
                continue;
            if (writer.Contains(file.Path))
                continue;
            writer.AddFileFromHost(file.Path, file.HostPath, Mode0755);
            files.Add(file.Path.TrimStart('/'));
        }
    }

    /// <summary>The first default loader directory holding <paramref name="name"/>; null when the library is not installed (its codec then reports itself missing at capture).</summary>
    private static string? FindLibrary(string root, string name)
    {
        foreach (string directory in SharedLibraryResolver.DefaultSearchDirectories)
        {
            string path = $"{directory}/{name}";
            if (File.Exists(Path.Join(root, path)))
                return path;
        }
        return null;
    }

    /// <summary>
    /// finit_module takes a compressed module only with MODULE_INIT_COMPRESSED_FILE and a kernel
    /// built with CONFIG_MODULE_DECOMPRESS (kernel/module/decompress.c, Linux 5.17+); Debian's
    /// 6.12 has it, so its .ko.xz files go in as they are and /init passes the flag.
    /// </summary>
    private static void CheckModuleCompression(CrashInitramfsRequest request, KernelModuleClosure modules)
    {
        if (request.KernelConfig is not string config || modules.LoadOrder.All(m => m.Compression == ModuleCompression.None))
            return;
        bool decompresses = File.ReadLines(config).Any(line => line.Trim() == "CONFIG_MODULE_DECOMPRESS=y");
        if (!decompresses)
        {
            KernelModule first = modules.LoadOrder.First(m => m.Compression != ModuleCompression.None);
            throw new KernelModuleNotFoundException(first.Name, request.ModulesDirectory,
                $"{first.RelativePath} is compressed and {config} lacks CONFIG_MODULE_DECOMPRESS=y, so the kernel cannot load it; unpack the modules and run depmod");
        }
    }
}
