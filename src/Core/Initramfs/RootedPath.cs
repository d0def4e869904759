namespace KdumpSharp.Initramfs;

/// <summary>
/// Resolves absolute paths inside a root directory the way the kernel would after chroot(root):
/// symlinks are followed component by component, an absolute link target restarts at the root,
/// and ".." never climbs above it. Building an image for another root (a mounted system, a test
/// tree) then reads that root's files, not the host's.
/// </summary>
internal sealed class RootedPath
{
    private readonly string _root;
    private readonly int _maxSymlinkHops;

    public RootedPath(string root, int maxSymlinkHops)
    {
        _root = Path.GetFullPath(root).TrimEnd('/');
        _maxSymlinkHops = maxSymlinkHops;
    }

    /// <summary>The host path of an in-root path, without resolving anything.</summary>
    public string ToHost(string path) => _root + path;

    /// <summary>
    /// Resolves <paramref name="path"/> (absolute, inside the root) to the in-root path of the
    /// file or directory it names with every symlink followed, or null if it does not exist.
    /// </summary>
    /// <exception cref="IOException">More than the allowed number of symlinks (a loop).</exception>
    public string? Resolve(string path)
    {
        if (!path.StartsWith('/'))
            throw new ArgumentException($"'{path}' is not an absolute path", nameof(path));
        var pending = new Stack<string>();
        PushComponents(pending, path);
        var resolved = new List<string>();
        int hops = 0;
        while (pending.Count > 0)
        {
            string component = pending.Pop();
            if (component is "" or ".")
                continue;
            if (component == "..")
            {
                if (resolved.Count > 0)
                    resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            string candidate = Join(resolved) + "/" + component;
            string host = ToHost(candidate);
            var info = new FileInfo(host);
            if (info.LinkTarget is string target)
            {
                if (++hops > _maxSymlinkHops)
                    throw new IOException($"{host}: more than {_maxSymlinkHops} symlinks while resolving {path}");
                if (target.StartsWith('/'))
                    resolved.Clear();
                PushComponents(pending, target);
                continue;
            }
            if (!info.Exists && !Directory.Exists(host))
                return null;
            resolved.Add(component);
        }
        return resolved.Count == 0 ? "/" : Join(resolved);
    }

    /// <summary>
    /// Removes ".", ".." and empty components without looking at the file system. In an image
    /// built of real directories this is where a path leads, whatever symlinks the source had.
    /// </summary>
    public static string NormalizeLexically(string path)
    {
        var components = new List<string>();
        foreach (string component in path.Split('/'))
        {
            if (component is "" or ".")
                continue;
            if (component == "..")
            {
                if (components.Count > 0)
                    components.RemoveAt(components.Count - 1);
                continue;
            }
            components.Add(component);
        }
        return components.Count == 0 ? "/" : Join(components);
    }

    /// <summary>Pushes the components so that the first is popped first.</summary>
    private static void PushComponents(Stack<string> pending, string path)
    {
        string[] components = path.Split('/');
        for (int i = components.Length - 1; i >= 0; i--)
            pending.Push(components[i]);
    }

    private static string Join(List<string> components) =>
        components.Count == 0 ? "" : "/" + string.Join('/', components);
}
