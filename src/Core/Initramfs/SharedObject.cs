namespace KdumpSharp.Initramfs;

/// <summary>One file the dynamic loader maps for an executable.</summary>
/// <param name="Name">
/// The name it was asked for: the DT_NEEDED string ("libc.so.6"), the PT_INTERP path, or the
/// executable's path.
/// </param>
/// <param name="Path">
/// Where the loader finds it, inside the resolver's root ("/lib/x86_64-linux-gnu/libc.so.6").
/// An image must hold the file at this path.
/// </param>
/// <param name="HostPath">The file to copy: the path joined to the root with every symlink followed.</param>
/// <param name="NeededBy">The <see cref="Path"/> of the object whose DT_NEEDED first named it; null for the executable and its interpreter.</param>
public sealed record SharedObject(string Name, string Path, string HostPath, string? NeededBy);

/// <summary>An executable and everything the dynamic loader maps to run it.</summary>
/// <param name="Executable">The executable itself.</param>
/// <param name="Interpreter">The PT_INTERP loader, or null for a static executable.</param>
/// <param name="Libraries">
/// DT_NEEDED libraries, breadth first as ld.so loads them, each path once. Two paths that are
/// the same file (found under two names) are both listed, since the loader looks for each.
/// </param>
public sealed record ExecutableDependencies(SharedObject Executable, SharedObject? Interpreter, IReadOnlyList<SharedObject> Libraries)
{
    /// <summary>The executable, its interpreter and its libraries: every file an image needs.</summary>
    public IEnumerable<SharedObject> Files =>
        Interpreter is null ? [Executable, .. Libraries] : [Executable, Interpreter, .. Libraries];
}
