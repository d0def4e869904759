using System.Text;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// What a guest's root needs so that <c>kds-loader crash load</c>, with no kernel and no --initrd,
/// builds our crash initramfs as on an installed machine: kds-capture where the package puts it
/// with the libraries it and the page codecs load, the running kernel and its config in /boot, the
/// target's modules under /lib/modules with their indexes, and /etc/kdumpsharp/capture.conf.
/// The guest adds its own /init, busybox and kds-loader. The demo and the loader VM tests use it.
/// </summary>
public static class CrashReadyGuest
{
    /// <summary>Guest RAM and crashkernel= of the demo: the .NET crash environment needs 120M on 6.1 (README); 192M leaves headroom.</summary>
    public const int MemoryMiB = 512;

    public const int CrashKernelMiB = 192;

    /// <summary>The target disk: room for a 512 MiB guest's dump at level 31 and its log.</summary>
    public const int TargetDiskMiB = 512;

    /// <summary>What the crash initramfs built in the guest takes from /lib/modules for a virtio ext4 target.</summary>
    public static IReadOnlyList<string> Modules { get; } = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"];

    /// <summary>Libraries kds-loader loads at run time without a DT_NEEDED: .NET's crypto shim dlopens OpenSSL for the cache key's SHA-256.</summary>
    private static readonly string[] OpenSslLibraries = ["libssl.so.3", "libcrypto.so.3"];

    private const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>Adds the pieces to <paramref name="writer"/>; files the guest already added (shared libraries) are kept.</summary>
    /// <exception cref="GuestSetupException">A codec or OpenSSL library is not installed on the host.</exception>
    public static void AddTo(NewcArchiveWriter writer, TestKernel kernel, CaptureConfiguration configuration)
    {
        PublishedProgram capture = PublishedProgram.Capture;
        var libraries = new SharedLibraryResolver();
        IEnumerable<SharedObject> files = libraries.Resolve(capture.Executable).Files.Skip(1);
        foreach (string library in CrashInitramfsBuilder.CodecLibraries.Concat(OpenSslLibraries))
            files = files.Concat(libraries.Resolve(FindLibrary(library)).Files);
        foreach (SharedObject file in files)
        {
            if (!writer.Contains(file.Path))
                writer.AddFileFromHost(file.Path, file.HostPath, Mode0755);
        }
        writer.AddFileFromHost($"{CrashInitramfsSources.PackagedCaptureDirectory.TrimStart('/')}/kds-capture", capture.Executable, Mode0755);

        string release = kernel.Release;
        writer.AddFileFromHost($"boot/vmlinuz-{release}", kernel.Vmlinuz, Mode0644);
        writer.AddFileFromHost($"boot/config-{release}", kernel.Config, Mode0644);
        foreach (string index in new[] { "modules.dep", "modules.builtin" })
            writer.AddFileFromHost($"lib/modules/{release}/{index}", Path.Combine(kernel.ModulesDirectory, index), Mode0644);
        foreach (KernelModule module in new KernelModuleResolver(kernel.ModulesDirectory).Resolve(Modules).LoadOrder)
        {
            string archivePath = $"lib/modules/{release}/{module.RelativePath}";
            if (!writer.Contains(archivePath))
                writer.AddFileFromHost(archivePath, module.FullPath, Mode0644);
        }
        writer.AddFile(CaptureConfiguration.DefaultPath.TrimStart('/'), Encoding.UTF8.GetBytes(configuration.ToText()), Mode0644);
    }

    private static string FindLibrary(string name) =>
        SharedLibraryResolver.DefaultSearchDirectories.Select(d => $"{d}/{name}").FirstOrDefault(File.Exists)
        ?? throw new GuestSetupException($"{name} is not installed on this host (scripts/setup.sh installs it)");
}
