using System.Security.Cryptography;
using System.Text;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// A product program (kds-capture, kds-loader) published the way it ships into a guest:
/// self-contained, trimmed, single-file for linux-x64. Published once per source state and cached
/// under <c>&lt;cache&gt;/publish/&lt;assembly&gt;-&lt;key&gt;/</c>, where the key hashes the
/// project's and Core's sources, so tests in several processes share one build.
/// </summary>
public sealed class PublishedProgram
{
    public static PublishedProgram Capture => Get("src/Capture", "kds-capture");

    public static PublishedProgram Loader => Get("src/Loader", "kds-loader");

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, PublishedProgram> Published = [];

    private PublishedProgram(string directory, string assemblyName)
    {
        Directory = directory;
        Executable = Path.Combine(directory, assemblyName);
    }

    /// <summary>The publish output directory.</summary>
    public string Directory { get; }

    /// <summary>The single-file executable.</summary>
    public string Executable { get; }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static PublishedProgram Get(string projectDirectory, string assemblyName)
    {
        lock (Gate)
        {
            string key = SourceKey(projectDirectory);
            if (Published.TryGetValue(key, out PublishedProgram? known))
                return known;
            string root = Path.Combine(TestKernel.CacheRoot, "publish");
            string directory = Path.Combine(root, $"{assemblyName}-{key}");
            if (!File.Exists(Path.Combine(directory, ".complete")))
                PublishLocked(projectDirectory, root, directory);
            var program = new PublishedProgram(directory, assemblyName);
            Published[key] = program;
            return program;
        }
    }

    private static void PublishLocked(string projectDirectory, string root, string directory)
    {
        System.IO.Directory.CreateDirectory(root);
        using var lockFile = new FileStream(directory + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        if (File.Exists(Path.Combine(directory, ".complete")))
            return;
        if (System.IO.Directory.Exists(directory))
            System.IO.Directory.Delete(directory, recursive: true);
        HostProcess.Result result = HostProcess.Run("dotnet",
            ["publish", Path.Combine(RepositoryRoot, projectDirectory), "-c", "Release", "-r", "linux-x64", "--self-contained",
             "-p:PublishTrimmed=true", "-p:PublishSingleFile=true", "-o", directory],
            RepositoryRoot, TimeSpan.FromMinutes(15));
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"dotnet publish {projectDirectory} failed ({result.ExitCode}): {result.Output}");
        File.WriteAllText(Path.Combine(directory, ".complete"), "");
    }

    /// <summary>The first 16 hex digits of a SHA-256 over the sources the program is built from.</summary>
    private static string SourceKey(string projectDirectory)
    {
        var inputs = new StringBuilder();
        foreach (string path in new[] { "Directory.Build.props" }
                     .Concat(SourceFiles(projectDirectory))
                     .Concat(SourceFiles("src/Core")))
        {
            inputs.Append(path).Append(' ')
                .AppendLine(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(RepositoryRoot, path)))));
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs.ToString())))[..16];
    }

    private static IEnumerable<string> SourceFiles(string projectDirectory) =>
        System.IO.Directory.EnumerateFiles(Path.Combine(RepositoryRoot, projectDirectory), "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(RepositoryRoot, path))
            .Where(path => !path.Contains("/bin/") && !path.Contains("/obj/"))
            .Order(StringComparer.Ordinal);

    private static string FindRepositoryRoot()
    {
        for (string? directory = AppContext.BaseDirectory; directory is not null; directory = Path.GetDirectoryName(directory))
        {
            if (File.Exists(Path.Combine(directory, "KdumpSharp.sln")))
                return directory;
        }
        throw new InvalidOperationException($"no KdumpSharp.sln above {AppContext.BaseDirectory}");
    }
}
