namespace KdumpSharp.Initramfs;

/// <summary>
/// Caps on what the initramfs resolvers read from files, checked before allocating, so a corrupt
/// executable or a symlink loop costs bounded memory and time.
/// </summary>
public sealed record InitramfsLimits
{
    public static InitramfsLimits Default { get; } = new();

    /// <summary>Program headers of one ELF file (real executables have about a dozen).</summary>
    public int MaxProgramHeaders { get; init; } = 4096;

    /// <summary>Entries of one PT_DYNAMIC (glibc's libc.so.6 has about 40).</summary>
    public int MaxDynamicEntries { get; init; } = 65_536;

    /// <summary>Bytes of one DT_STRTAB (libc.so.6's is about 25 KiB; large C++ libraries reach a few MiB).</summary>
    public int MaxStringTableBytes { get; init; } = 64 << 20;

    /// <summary>Shared objects in one executable's closure.</summary>
    public int MaxLibraries { get; init; } = 4096;

    /// <summary>Symlinks followed while resolving one path (the kernel's MAXSYMLINKS is 40).</summary>
    public int MaxSymlinkHops { get; init; } = 40;

    /// <summary>Nesting of <c>include</c> lines in ld.so.conf.</summary>
    public int MaxLdSoConfIncludeDepth { get; init; } = 16;

    /// <summary>Modules in one module closure.</summary>
    public int MaxModules { get; init; } = 65_536;
}
