namespace KdumpSharp.Initramfs;

/// <summary>How a module file is compressed, from its name (kmod's kmod_file_open reads the magic instead).</summary>
public enum ModuleCompression
{
    /// <summary>A plain ELF .ko.</summary>
    None,

    /// <summary>.ko.gz (CONFIG_MODULE_COMPRESS_GZIP).</summary>
    Gzip,

    /// <summary>.ko.xz (CONFIG_MODULE_COMPRESS_XZ; Debian's 6.12 kernels).</summary>
    Xz,

    /// <summary>.ko.zst (CONFIG_MODULE_COMPRESS_ZSTD).</summary>
    Zstd,
}

/// <summary>One loadable module file.</summary>
/// <param name="Name">The module name, with '-' folded to '_' as the kernel and kmod name modules.</param>
/// <param name="RelativePath">Its path as modules.dep lists it, relative to lib/modules/&lt;release&gt; ("kernel/drivers/block/virtio_blk.ko.xz").</param>
/// <param name="FullPath">The file on this machine.</param>
/// <param name="Compression">What its suffix says. Copying keeps it as is; the loader decides whether it can read it.</param>
public sealed record KernelModule(string Name, string RelativePath, string FullPath, ModuleCompression Compression);

/// <summary>What loading a set of modules takes.</summary>
/// <param name="LoadOrder">Module files, each after every module it depends on.</param>
/// <param name="BuiltIn">Requested names that are built into the kernel (modules.builtin), so need no file.</param>
public sealed record KernelModuleClosure(IReadOnlyList<KernelModule> LoadOrder, IReadOnlyList<string> BuiltIn);
