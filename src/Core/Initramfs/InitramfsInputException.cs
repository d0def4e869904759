namespace KdumpSharp.Initramfs;

/// <summary>
/// A file the initramfs builder reads (an executable, a shared library, modules.dep, a kernel
/// module) is missing or malformed. Messages are one line and name the file, so a CLI can print
/// them as they are.
/// </summary>
public abstract class InitramfsInputException(string message) : Exception(message);

/// <summary>An ELF executable or shared library is truncated, corrupt or of a kind we do not read.</summary>
public sealed class ExecutableFormatException : InitramfsInputException
{
    public ExecutableFormatException(string path, string problem, long? offset = null)
        : base(offset is long o ? $"{path}: {problem} (at offset 0x{o:x})" : $"{path}: {problem}")
    {
        Path = path;
        Problem = problem;
        Offset = offset;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }

    /// <summary>Where in the file, when known.</summary>
    public long? Offset { get; }
}

/// <summary>A DT_NEEDED library is in none of the directories the dynamic loader would search.</summary>
public sealed class SharedLibraryNotFoundException(string library, string neededBy, IReadOnlyList<string> searchedDirectories)
    : InitramfsInputException($"{neededBy}: needs {library}, found in none of: {string.Join(", ", searchedDirectories)}")
{
    /// <summary>The DT_NEEDED name.</summary>
    public string Library { get; } = library;

    /// <summary>The object whose DT_NEEDED names the library.</summary>
    public string NeededBy { get; } = neededBy;

    /// <summary>Directories searched, in order.</summary>
    public IReadOnlyList<string> SearchedDirectories { get; } = searchedDirectories;
}

/// <summary>A kernel module is neither in modules.dep nor built in, or its file is missing.</summary>
public sealed class KernelModuleNotFoundException(string module, string modulesDirectory, string problem)
    : InitramfsInputException($"{modulesDirectory}: module {module}: {problem}")
{
    /// <summary>The module name as requested or as listed in modules.dep.</summary>
    public string Module { get; } = module;

    /// <summary>The lib/modules/&lt;release&gt; directory.</summary>
    public string ModulesDirectory { get; } = modulesDirectory;
}

/// <summary>A configuration file the resolvers read (modules.dep, modules.builtin, ld.so.conf) is missing or malformed.</summary>
public sealed class ConfigurationFormatException(string path, int? line, string problem)
    : InitramfsInputException(line is int l ? $"{path}:{l}: {problem}" : $"{path}: {problem}")
{
    public string Path { get; } = path;

    /// <summary>1-based line number, when the problem is on one line.</summary>
    public int? Line { get; } = line;
}
