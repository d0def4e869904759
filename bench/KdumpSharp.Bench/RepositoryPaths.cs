namespace KdumpSharp.Bench;

/// <summary>Paths in the checkout kds-bench was built from.</summary>
internal static class RepositoryPaths
{
    /// <summary>The directory holding scripts/setup.sh above this program's build output.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "scripts", "setup.sh")))
                    return dir.FullName;
            }
            throw new InvalidOperationException($"no scripts/setup.sh above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>
    /// kds-analyzer's apphost from the Release build of this checkout. Building kds-bench in
    /// Release builds it (through the VM test project's reference), so it is never staler than the bench.
    /// </summary>
    public static string ReleaseAnalyzer =>
        Path.Combine(Root, "src", "Analyzer", "bin", "Release", TargetFramework, "kds-analyzer");

    public static string Results => Path.Combine(Root, "bench", "results");

    /// <summary>net10.0: the last directory of this program's own output path.</summary>
    private static string TargetFramework => Path.GetFileName(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
}
