namespace KdumpSharp.Initramfs;

/// <summary>
/// Finds the files an ELF executable needs at run time by reading what the dynamic loader reads
/// (PT_INTERP, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME) and searching as glibc's
/// elf/dl-load.c <c>_dl_map_object</c> does, the way dracut collects binaries, without running
/// <c>ldd</c> (which executes the loader on the file).
/// </summary>
/// <remarks>
/// Search order for a name needed by object L: the DT_RPATH of L and then of each object that
/// loaded it up to the executable, unless L has DT_RUNPATH; L's DT_RUNPATH; the directories of
/// ld.so.conf (which ldconfig turns into ld.so.cache); the built-in default directories. A name
/// with a '/' is a path. A name matching the DT_SONAME or the name of an object already loaded
/// is that object (libc.so.6 needs "ld-linux-x86-64.so.2", which is the interpreter). Files of
/// another ELF class or machine are skipped, as the loader skips them. <c>$ORIGIN</c> is
/// expanded; search entries with other dynamic string tokens (<c>$LIB</c>, <c>$PLATFORM</c>)
/// and empty entries (meaning the working directory) are skipped. LD_LIBRARY_PATH is not
/// consulted: the image runs with a clean environment.
/// </remarks>
public sealed class SharedLibraryResolver
{
    /// <summary>
    /// The default directories of Debian's x86_64 glibc (multiarch first), plus the
    /// non-multiarch ones other distributions use.
    /// </summary>
    public static IReadOnlyList<string> DefaultSearchDirectories { get; } =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

    private readonly RootedPath _root;
    private readonly string _ldSoConf;
    private readonly IReadOnlyList<string> _defaultDirectories;
    private readonly InitramfsLimits _limits;
    private IReadOnlyList<string>? _configuredDirectories;

    /// <param name="root">The file system to resolve in; "/" for this machine.</param>
    /// <param name="ldSoConf">The loader configuration, inside <paramref name="root"/>.</param>
    /// <param name="defaultDirectories">Directories searched last; <see cref="DefaultSearchDirectories"/> if null.</param>
    /// <param name="limits">Caps on what is read; <see cref="InitramfsLimits.Default"/> if null.</param>
    public SharedLibraryResolver(string root = "/", string ldSoConf = "/etc/ld.so.conf",
        IReadOnlyList<string>? defaultDirectories = null, InitramfsLimits? limits = null)
    {
        _limits = limits ?? InitramfsLimits.Default;
        _root = new RootedPath(root, _limits.MaxSymlinkHops);
        _ldSoConf = ldSoConf;
        _defaultDirectories = defaultDirectories ?? DefaultSearchDirectories;
    }

    /// <summary>The directories named by ld.so.conf and its includes, in order, read once.</summary>
    public IReadOnlyList<string> ConfiguredDirectories =>
        _configuredDirectories ??= new LdSoConf(_root, _limits.MaxLdSoConfIncludeDepth).ReadDirectories(_ldSoConf);

    /// <summary>Resolves the interpreter and the library closure of the executable at <paramref name="executablePath"/> (inside the root).</summary>
    /// <exception cref="FileNotFoundException">The executable does not exist.</exception>
    /// <exception cref="ExecutableFormatException">It, or a library it needs, is not a readable ELF64 file.</exception>
    /// <exception cref="SharedLibraryNotFoundException">A needed library is in no searched directory.</exception>
    public ExecutableDependencies Resolve(string executablePath)
    {
        if (!executablePath.StartsWith('/'))
            throw new ArgumentException($"'{executablePath}' is not an absolute path", nameof(executablePath));
        string resolved = _root.Resolve(executablePath)
            ?? throw new FileNotFoundException($"{_root.ToHost(executablePath)}: no such executable", _root.ToHost(executablePath));
        ElfDynamicImage image = ElfDynamicImage.Read(_root.ToHost(resolved), _limits);
        // rtld takes the executable's $ORIGIN from /proc/self/exe; in an image of real directories
        // that is the directory the executable is placed in.
        string placed = RootedPath.NormalizeLexically(executablePath);
        var executable = new Loaded(new SharedObject(executablePath, placed, _root.ToHost(resolved), null), image,
            Origin: DirectoryOf(placed), Loader: null);

        var byName = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        var byFile = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        byFile[executable.Object.HostPath] = executable;

        SharedObject? interpreter = null;
        if (image.Interpreter is string interp)
        {
            // binfmt_elf opens PT_INTERP as given; a relative one would depend on the working directory.
            if (!interp.StartsWith('/'))
                throw new ExecutableFormatException(image.Path, $"PT_INTERP '{interp}' is not an absolute path");
            string interpPath = RootedPath.NormalizeLexically(interp);
            string interpResolved = _root.Resolve(interp)
                ?? throw new SharedLibraryNotFoundException(interp, executablePath, [DirectoryOf(interpPath)]);
            string host = _root.ToHost(interpResolved);
            ElfDynamicImage interpImage = ElfDynamicImage.Read(host, _limits);
            interpreter = new SharedObject(interp, interpPath, host, null);
            var loaded = new Loaded(interpreter, interpImage, DirectoryOf(interpPath), Loader: null);
            byFile[host] = loaded;
            byName[interp] = loaded;
            if (interpImage.SoName is string soName)
                byName[soName] = loaded;
        }

        var libraries = new List<SharedObject>();
        var queue = new Queue<Loaded>();
        queue.Enqueue(executable);
        while (queue.Count > 0)
        {
            Loaded current = queue.Dequeue();
            foreach (string name in current.Image.Needed)
            {
                if (byName.ContainsKey(name))
                    continue;
                (string path, string hostPath) = Find(name, current, image.Machine);
                if (libraries.Count >= _limits.MaxLibraries)
                    throw new ExecutableFormatException(executable.Object.HostPath, $"needs more than {_limits.MaxLibraries} shared libraries");
                var library = new SharedObject(name, path, hostPath, current.Object.Path);
                libraries.Add(library);
                if (byFile.TryGetValue(hostPath, out Loaded? same))
                {
                    // Another name for a file already mapped: the loader finds it at this path, sees
                    // the same inode and reuses the mapping (dl-load.c), so the image needs the path
                    // but the file's own dependencies are already walked.
                    byName[name] = same;
                    continue;
                }
                ElfDynamicImage libImage = ElfDynamicImage.Read(hostPath, _limits);
                var loaded = new Loaded(library, libImage, DirectoryOf(path), current);
                byFile[hostPath] = loaded;
                byName[name] = loaded;
                if (libImage.SoName is string soName)
                    byName.TryAdd(soName, loaded);
                queue.Enqueue(loaded);
            }
        }
        return new ExecutableDependencies(executable.Object, interpreter, libraries);
    }

    /// <summary>
    /// Returns where the library is, as a path with "." and ".." removed (an image holds it
    /// there), and the host file to copy.
    /// </summary>
    private (string Path, string HostPath) Find(string name, Loaded neededBy, ushort machine)
    {
        if (name.Contains('/'))
        {
            string path = RootedPath.NormalizeLexically(name);
            string? resolved = _root.Resolve(path);
            if (resolved is not null && File.Exists(_root.ToHost(resolved)))
                return (path, _root.ToHost(resolved));
            throw new SharedLibraryNotFoundException(name, neededBy.Object.Path, [DirectoryOf(path)]);
        }

        List<string> directories = SearchDirectories(neededBy);
        foreach (string directory in directories)
        {
            string path = RootedPath.NormalizeLexically(directory + "/" + name);
            string? resolved = _root.Resolve(path);
            if (resolved is null)
                continue;
            string host = _root.ToHost(resolved);
            if (File.Exists(host) && ElfDynamicImage.IsCompatible(host, machine))
                return (path, host);
        }
        throw new SharedLibraryNotFoundException(name, neededBy.Object.Path, directories);
    }

    private List<string> SearchDirectories(Loaded neededBy)
    {
        var directories = new List<string>();
        if (neededBy.Image.RunPath is null)
        {
            for (Loaded? loader = neededBy; loader is not null; loader = loader.Loader)
                AddSearchPath(directories, loader.Image.RPath, loader.Origin);
        }
        AddSearchPath(directories, neededBy.Image.RunPath, neededBy.Origin);
        foreach (string directory in ConfiguredDirectories)
            AddDistinct(directories, directory);
        foreach (string directory in _defaultDirectories)
            AddDistinct(directories, directory);
        return directories;
    }

    private static void AddSearchPath(List<string> directories, string? searchPath, string origin)
    {
        if (searchPath is null)
            return;
        foreach (string entry in searchPath.Split(':'))
        {
            string expanded = entry.Replace("${ORIGIN}", origin, StringComparison.Ordinal)
                .Replace("$ORIGIN", origin, StringComparison.Ordinal);
            if (expanded.Length == 0 || expanded.Contains('$') || !expanded.StartsWith('/'))
                continue;
            AddDistinct(directories, expanded);
        }
    }

    private static void AddDistinct(List<string> directories, string directory)
    {
        if (!directories.Contains(directory, StringComparer.Ordinal))
            directories.Add(directory);
    }

    private static string DirectoryOf(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>A mapped object, its dynamic section, its $ORIGIN and the object that loaded it.</summary>
    private sealed record Loaded(SharedObject Object, ElfDynamicImage Image, string Origin, Loaded? Loader);
}
