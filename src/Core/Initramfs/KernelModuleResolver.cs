namespace KdumpSharp.Initramfs;

/// <summary>
/// Turns module names into the module files to load, dependencies first, from depmod's
/// modules.dep in a lib/modules/&lt;release&gt; directory, the way modprobe does (kmod
/// libkmod/libkmod-module.c: each line is "path: dep dep…", the dependencies of a module are
/// loaded before it, depth first in listed order). Names that modules.builtin lists are reported
/// as built in. Paths are returned; whether a compressed module is decompressed is the caller's
/// choice (busybox insmod reads .ko.xz itself; the kernel does so only with CONFIG_MODULE_DECOMPRESS
/// and a loader that passes MODULE_INIT_COMPRESSED_FILE).
/// </summary>
public sealed class KernelModuleResolver
{
    private static readonly (string Suffix, ModuleCompression Compression)[] Suffixes =
    [
        (".ko", ModuleCompression.None),
        (".ko.gz", ModuleCompression.Gzip),
        (".ko.xz", ModuleCompression.Xz),
        (".ko.zst", ModuleCompression.Zstd),
    ];

    private readonly InitramfsLimits _limits;
    private Dictionary<string, DepLine>? _dep;          // module name → its line
    private HashSet<string>? _builtIn;

    /// <param name="modulesDirectory">lib/modules/&lt;release&gt;, holding modules.dep.</param>
    /// <param name="limits">Caps on what is read; <see cref="InitramfsLimits.Default"/> if null.</param>
    public KernelModuleResolver(string modulesDirectory, InitramfsLimits? limits = null)
    {
        ModulesDirectory = Path.GetFullPath(modulesDirectory).TrimEnd('/');
        _limits = limits ?? InitramfsLimits.Default;
    }

    public string ModulesDirectory { get; }

    /// <summary>
    /// The module name for a name or file name: directory and .ko suffix removed, '-' folded to
    /// '_' (kmod's modname_normalize), so "virtio-blk", "virtio_blk" and "virtio_blk.ko.xz" agree.
    /// </summary>
    public static string NormalizeName(string nameOrPath)
    {
        string name = Path.GetFileName(nameOrPath);
        foreach ((string suffix, _) in Suffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                name = name[..^suffix.Length];
                break;
            }
        }
        return name.Replace('-', '_');
    }

    /// <summary>Resolves <paramref name="moduleNames"/> and everything they depend on.</summary>
    /// <exception cref="ConfigurationFormatException">modules.dep is missing or malformed.</exception>
    /// <exception cref="KernelModuleNotFoundException">A name is neither a module nor built in, or a listed file is missing.</exception>
    public KernelModuleClosure Resolve(IEnumerable<string> moduleNames)
    {
        ArgumentNullException.ThrowIfNull(moduleNames);
        LoadIndex();
        var order = new List<string>();
        var state = new Dictionary<string, bool>(StringComparer.Ordinal); // false = on the path, true = done
        var builtIn = new List<string>();
        foreach (string requested in moduleNames)
        {
            string name = NormalizeName(requested);
            if (_dep!.ContainsKey(name))
                Visit(name, state, order);
            else if (_builtIn!.Contains(name))
            {
                if (!builtIn.Contains(name))
                    builtIn.Add(name);
            }
            else
                throw new KernelModuleNotFoundException(requested, ModulesDirectory, "not in modules.dep and not built in (modules.builtin)");
        }

        var modules = new List<KernelModule>(order.Count);
        foreach (string name in order)
        {
            DepLine line = _dep![name];
            string full = line.Path.StartsWith('/') ? line.Path : Path.Combine(ModulesDirectory, line.Path);
            if (!File.Exists(full))
                throw new KernelModuleNotFoundException(name, ModulesDirectory, $"modules.dep lists {line.Path}, which does not exist");
            modules.Add(new KernelModule(name, line.Path, full, CompressionOf(line.Path)));
        }
        return new KernelModuleClosure(modules, builtIn);
    }

    /// <summary>
    /// Depth-first, dependencies in the order modules.dep lists them, each module after its
    /// dependencies. An explicit stack, so a hostile file cannot exhaust the call stack.
    /// </summary>
    private void Visit(string root, Dictionary<string, bool> state, List<string> order)
    {
        if (state.ContainsKey(root))
            return;
        var stack = new Stack<(string Name, int Next)>();
        stack.Push((root, 0));
        state[root] = false;
        while (stack.Count > 0)
        {
            (string name, int next) = stack.Pop();
            DepLine line = _dep![name];
            if (next < line.Dependencies.Count)
            {
                stack.Push((name, next + 1));
                string dependency = line.Dependencies[next];
                if (state.TryGetValue(dependency, out bool done))
                {
                    if (!done)
                        throw new ConfigurationFormatException(DepFile, line.Number, $"dependency cycle through {dependency}");
                    continue;
                }
                state[dependency] = false;
                stack.Push((dependency, 0));
                continue;
            }
            state[name] = true;
            order.Add(name);
            if (order.Count > _limits.MaxModules)
                throw new ConfigurationFormatException(DepFile, null, $"a closure of more than {_limits.MaxModules} modules");
        }
    }

    private string DepFile => Path.Combine(ModulesDirectory, "modules.dep");

    private void LoadIndex()
    {
        if (_dep is not null)
            return;
        if (!File.Exists(DepFile))
            throw new ConfigurationFormatException(DepFile, null,
                $"missing; generate it with: depmod -b <root> {Path.GetFileName(ModulesDirectory)}");

        var dep = new Dictionary<string, DepLine>(StringComparer.Ordinal);
        var nameByPath = new Dictionary<string, string>(StringComparer.Ordinal);
        var pending = new List<(string Name, string[] DependencyPaths, int Number)>();
        int number = 0;
        foreach (string raw in File.ReadLines(DepFile))
        {
            number++;
            string text = raw.Trim();
            if (text.Length == 0 || text.StartsWith('#'))
                continue;
            int colon = text.IndexOf(':');
            if (colon <= 0)
                throw new ConfigurationFormatException(DepFile, number, "expected 'module-path: dependency-paths'");
            string path = text[..colon];
            string name = ModuleNameOf(path, number);
            if (dep.ContainsKey(name))
                throw new ConfigurationFormatException(DepFile, number, $"module {name} is listed twice");
            if (dep.Count >= _limits.MaxModules)
                throw new ConfigurationFormatException(DepFile, number, $"more than {_limits.MaxModules} modules");
            string[] dependencies = text[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            dep[name] = new DepLine(path, [], number);
            nameByPath[path] = name;
            pending.Add((name, dependencies, number));
        }

        foreach ((string name, string[] dependencyPaths, int lineNumber) in pending)
        {
            var names = new List<string>(dependencyPaths.Length);
            foreach (string dependencyPath in dependencyPaths)
            {
                if (!nameByPath.TryGetValue(dependencyPath, out string? dependency))
                    throw new ConfigurationFormatException(DepFile, lineNumber, $"{name} depends on {dependencyPath}, which has no line of its own");
                names.Add(dependency);
            }
            dep[name] = dep[name] with { Dependencies = names };
        }

        _builtIn = ReadBuiltIn();
        _dep = dep;
    }

    /// <summary>modules.builtin lists one path per built-in module; kernels before 3.x lack it, which means none.</summary>
    private HashSet<string> ReadBuiltIn()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        string file = Path.Combine(ModulesDirectory, "modules.builtin");
        if (!File.Exists(file))
            return names;
        foreach (string raw in File.ReadLines(file))
        {
            string text = raw.Trim();
            if (text.Length > 0)
                names.Add(NormalizeName(text));
        }
        return names;
    }

    private string ModuleNameOf(string path, int lineNumber)
    {
        foreach ((string suffix, _) in Suffixes)
        {
            if (path.EndsWith(suffix, StringComparison.Ordinal))
                return NormalizeName(path);
        }
        throw new ConfigurationFormatException(DepFile, lineNumber, $"'{path}' is not a .ko, .ko.gz, .ko.xz or .ko.zst file");
    }

    private static ModuleCompression CompressionOf(string path)
    {
        foreach ((string suffix, ModuleCompression compression) in Suffixes)
        {
            if (path.EndsWith(suffix, StringComparison.Ordinal))
                return compression;
        }
        return ModuleCompression.None;
    }

    private sealed record DepLine(string Path, IReadOnlyList<string> Dependencies, int Number);
}
