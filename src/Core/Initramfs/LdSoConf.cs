namespace KdumpSharp.Initramfs;

/// <summary>
/// Reads the directory list of ld.so.conf as ldconfig does (glibc elf/ldconfig.c parse_conf):
/// one directory per line, '#' starts a comment, <c>include PATTERN…</c> reads more files (a
/// relative pattern is relative to the including file's directory, matches are read in sorted
/// order), <c>hwcap</c> lines are ignored. A missing file contributes nothing, as for ldconfig.
/// </summary>
internal sealed class LdSoConf(RootedPath root, int maxIncludeDepth)
{
    public IReadOnlyList<string> ReadDirectories(string path)
    {
        var directories = new List<string>();
        Read(path, 0, directories);
        return directories;
    }

    private void Read(string path, int depth, List<string> directories)
    {
        if (depth > maxIncludeDepth)
            throw new ConfigurationFormatException(root.ToHost(path), null, $"include nesting deeper than {maxIncludeDepth} (a loop?)");
        string? resolved = root.Resolve(path);
        if (resolved is null || !File.Exists(root.ToHost(resolved)))
            return;
        foreach (string raw in File.ReadLines(root.ToHost(resolved)))
        {
            int hash = raw.IndexOf('#');
            string line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length == 0)
                continue;
            string[] words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words[0] == "include")
            {
                foreach (string pattern in words.Skip(1))
                {
                    string absolute = pattern.StartsWith('/') ? pattern : DirectoryOf(path) + "/" + pattern;
                    foreach (string included in Glob(absolute))
                        Read(included, depth + 1, directories);
                }
                continue;
            }
            if (words[0] == "hwcap")
                continue;
            // Old syntax allowed "dir=libtype" and "dir:libtype" suffixes; ldconfig drops them.
            string directory = line.Split('=', ':')[0].Trim().TrimEnd('/');
            if (directory.StartsWith('/') && !directories.Contains(directory, StringComparer.Ordinal))
                directories.Add(directory);
        }
    }

    /// <summary>Expands wildcards in the last component only, which is all ld.so.conf files use.</summary>
    private IEnumerable<string> Glob(string pattern)
    {
        string directory = DirectoryOf(pattern);
        string name = pattern[(pattern.LastIndexOf('/') + 1)..];
        if (name.IndexOfAny(['*', '?']) < 0)
            return [pattern];
        string? resolved = root.Resolve(directory);
        if (resolved is null || !Directory.Exists(root.ToHost(resolved)))
            return [];
        var options = new EnumerationOptions { MatchType = MatchType.Simple, AttributesToSkip = 0 };
        return Directory.EnumerateFiles(root.ToHost(resolved), name, options)
            .Select(host => directory.TrimEnd('/') + "/" + Path.GetFileName(host))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static string DirectoryOf(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }
}
