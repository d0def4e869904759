namespace KdumpSharp.Kexec;

/// <summary>
/// Where the loader looks at the running system: /proc, /sys, /boot, /efi and /run under one
/// root directory. "/" is this machine; tests point it at a temporary tree laid out the same way.
/// </summary>
public sealed record SystemRoot(string Directory)
{
    /// <summary>This machine.</summary>
    public static SystemRoot Live { get; } = new("/");

    /// <summary>The path of <paramref name="absolutePath"/> ("/proc/cmdline") under this root.</summary>
    public string Resolve(string absolutePath) =>
        Directory == "/" ? absolutePath : Path.Combine(Directory, absolutePath.TrimStart('/'));

    /// <summary>A small text file (sysfs, procfs, config) or null when it does not exist or cannot be read.</summary>
    public string? ReadText(string absolutePath)
    {
        try
        {
            return File.ReadAllText(Resolve(absolutePath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A small binary file (an EFI variable) or null when it does not exist or cannot be read.</summary>
    public byte[]? ReadBytes(string absolutePath)
    {
        try
        {
            return File.ReadAllBytes(Resolve(absolutePath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public bool Exists(string absolutePath) => Path.Exists(Resolve(absolutePath));

    /// <summary>The running kernel's release, as <c>uname -r</c> prints it (/proc/sys/kernel/osrelease).</summary>
    public string? KernelRelease => ReadText("/proc/sys/kernel/osrelease")?.Trim() is { Length: > 0 } release ? release : null;

    /// <summary>The running kernel's command line (/proc/cmdline), without the trailing newline.</summary>
    public string? CommandLine => ReadText("/proc/cmdline")?.TrimEnd('\n', '\0', ' ');
}
