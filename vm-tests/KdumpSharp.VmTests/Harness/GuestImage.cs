using System.Text;
using KdumpSharp.Initramfs;

namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// The dump-making guest: a gzip initramfs composed with the product's
/// <see cref="NewcArchiveWriter"/>, <see cref="SharedLibraryResolver"/> and
/// <see cref="KernelModuleResolver"/> (busybox, kexec and its libraries, the virtio disk modules,
/// guest-init.sh as /init with guest-lib.sh beside it), and the payload disk that hands the crash kernel and initramfs to
/// the guest for kexec -p.
/// </summary>
public static class GuestImage
{
    /// <summary>Busybox applets the init script calls (the rest are shell builtins).</summary>
    public static IReadOnlyList<string> Applets { get; } =
        ["sh", "mount", "insmod", "cat", "dd", "stat", "head", "mkdir", "rm", "sleep", "ps", "sync", "uname", "poweroff"];

    /// <summary>The PCI transport and the disk driver; on 6.12 the transport is built in.</summary>
    public static IReadOnlyList<string> Modules { get; } = ["virtio_pci", "virtio_blk"];

    /// <summary>Host executables copied with their shared-library closure.</summary>
    public static IReadOnlyList<string> Executables { get; } = ["/bin/busybox", "/usr/sbin/kexec"];

    /// <summary>Where the payload disk puts the kernel; the initramfs follows at the next block.</summary>
    public const int PayloadBlock = 4096;

    /// <summary>guest-init.sh, embedded in this assembly.</summary>
    public static string InitScript { get; } = BusyboxInitramfs.EmbeddedText("guest-init.sh");

    /// <summary>What went into an initramfs.</summary>
    /// <param name="Path">The gzip file.</param>
    /// <param name="Files">Archive paths of the regular files, in archive order.</param>
    /// <param name="Modules">Module closure loaded by /init, in order.</param>
    public sealed record Initramfs(string Path, long CompressedBytes, long UncompressedBytes, IReadOnlyList<string> Files, KernelModuleClosure Modules);

    public static Initramfs BuildInitramfs(TestKernel kernel, string path)
    {
        var files = new List<string>();
        KernelModuleClosure modules = new KernelModuleResolver(kernel.ModulesDirectory).Resolve(Modules);
        long uncompressed;
        using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        using (var writer = new NewcArchiveWriter(output, InitramfsCompression.Gzip))
        {
            files.AddRange(BusyboxInitramfs.AddInit(writer, InitScript));
            var resolver = new SharedLibraryResolver();
            foreach (string executable in Executables)
                files.AddRange(BusyboxInitramfs.AddWithLibraries(writer, resolver, executable));
            BusyboxInitramfs.AddApplets(writer, Path.GetDirectoryName(Executables[0])!, Applets);
            files.AddRange(BusyboxInitramfs.AddModules(writer, kernel, modules));
            writer.Finish();
            uncompressed = writer.UncompressedLength;
        }
        return new Initramfs(path, new FileInfo(path).Length, uncompressed, files, modules);
    }

    /// <summary>
    /// Writes the payload disk guest-init.sh reads: "KDSPAYLOAD1 &lt;kernel bytes&gt;
    /// &lt;initramfs bytes&gt;" and the crash kernel's command line as the first two lines, the
    /// kernel at <see cref="PayloadBlock"/>, the initramfs at the next block boundary, and zeros
    /// to a whole block (QEMU sizes block devices in sectors).
    /// </summary>
    public static void WritePayloadDisk(string path, string kernel, string initramfs, string crashCommandLine)
    {
        if (crashCommandLine.Contains('\n'))
            throw new ArgumentException("the command line must be one line", nameof(crashCommandLine));
        long kernelBytes = new FileInfo(kernel).Length;
        long initramfsBytes = new FileInfo(initramfs).Length;
        byte[] header = new byte[PayloadBlock];
        byte[] text = Encoding.ASCII.GetBytes($"KDSPAYLOAD1 {kernelBytes} {initramfsBytes}\n{crashCommandLine}\n");
        if (text.Length > header.Length)
            throw new ArgumentException($"the payload header needs {text.Length} bytes, more than a block", nameof(crashCommandLine));
        text.CopyTo(header, 0);

        using var disk = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        disk.Write(header);
        foreach (string file in new[] { kernel, initramfs })
        {
            using (var source = File.OpenRead(file))
                source.CopyTo(disk);
            disk.Write(new byte[(PayloadBlock - disk.Length % PayloadBlock) % PayloadBlock]);
        }
    }
}
