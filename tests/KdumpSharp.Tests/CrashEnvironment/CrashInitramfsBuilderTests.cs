using System.Text;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.CrashEnvironment;

public sealed class CrashInitramfsBuilderTests
{
    private const string Release = "6.1.0-test";

    private const string ModulesDep =
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/drivers/virtio/virtio_ring.ko:\n" +
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko\n" +
        "kernel/fs/jbd2/jbd2.ko:\n";

    /// <summary>A published-program directory (a real dynamic executable stands in for kds-capture) and a modules directory.</summary>
    private static (TempDirectory Capture, TempDirectory Modules) Inputs()
    {
        var capture = new TempDirectory();
        File.Copy("/usr/bin/true", capture["kds-capture"]);
        var modules = new TempDirectory();
        File.WriteAllText(modules["modules.dep"], ModulesDep);
        foreach (string line in ModulesDep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string path = modules[line[..line.IndexOf(':')]];
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "module " + line[..line.IndexOf(':')]);
        }
        return (capture, modules);
    }

    private static CrashInitramfsRequest Request(TempDirectory capture, TempDirectory modules, InitramfsCompression compression = InitramfsCompression.None) => new()
    {
        KernelRelease = Release,
        ModulesDirectory = modules.Path,
        CaptureDirectory = capture.Path,
        Configuration = new CaptureConfiguration { Target = "LABEL=crash" },
        Modules = ["virtio_blk", "jbd2"],
        Compression = compression,
    };

    [Test]
    public void HoldsInitItsLibrariesTheModulesInOrderAndTheConfiguration()
    {
        (TempDirectory capture, TempDirectory modules) = Inputs();
        using (capture)
        using (modules)
        {
            var output = new MemoryStream();
            CrashInitramfs result = CrashInitramfsBuilder.Build(Request(capture, modules), output);

            Assert.That(result.UncompressedBytes, Is.EqualTo(output.Length));
            string listing = HostCommand.RunChecked("cpio", ["-itv", "--quiet"], output.ToArray()).Text;
            Assert.That(listing, Does.Match(@"crw-------\s.*5,\s+1 .* dev/console"));
            Assert.That(listing, Does.Match(@"-rwxr-xr-x\s.* init\n"));
            Assert.That(listing, Does.Contain("proc/self/exe -> /init"));
            Assert.That(result.Files, Does.Contain("lib64/ld-linux-x86-64.so.2"));
            Assert.That(result.Files, Does.Contain("lib/x86_64-linux-gnu/libc.so.6"));
            Assert.That(result.Files, Does.Contain("lib/x86_64-linux-gnu/libzstd.so.1"), "dlopen'ed codecs are added explicitly");
            Assert.That(result.Files, Does.Contain("lib/x86_64-linux-gnu/liblz4.so.1"));
            Assert.That(result.Files.Where(f => f.StartsWith("bin/", StringComparison.Ordinal)), Is.Empty, "no shell without a debug shell");

            using var root = new TempDirectory();
            HostCommand.RunChecked("cpio", ["-idm", "--quiet", "--no-absolute-filenames", "etc/*", "proc/*", "init"], output.ToArray(), root.Path);
            Assert.That(File.ReadAllText(root["etc/kdumpsharp/modules"]), Is.EqualTo(
                $"/lib/modules/{Release}/kernel/drivers/virtio/virtio_ring.ko\n" +
                $"/lib/modules/{Release}/kernel/drivers/virtio/virtio.ko\n" +
                $"/lib/modules/{Release}/kernel/drivers/block/virtio_blk.ko\n" +
                $"/lib/modules/{Release}/kernel/fs/jbd2/jbd2.ko\n"));
            Assert.That(CaptureConfiguration.Parse(File.ReadAllText(root["etc/kdumpsharp/capture.conf"])), Is.EqualTo(new CaptureConfiguration { Target = "LABEL=crash" }));
            Assert.That(File.ReadAllBytes(root["init"]), Is.EqualTo(File.ReadAllBytes("/usr/bin/true")));
            Assert.That(File.ReadAllText(root["proc/self/maps"]), Does.Match(@"^7fffff000000-7ffffffff000 rw-p .*\[stack\]\n$"));
        }
    }

    [Test]
    public void ZstdArchivesUnpackWithTheZstdTool()
    {
        (TempDirectory capture, TempDirectory modules) = Inputs();
        using (capture)
        using (modules)
        {
            var output = new MemoryStream();
            CrashInitramfs result = CrashInitramfsBuilder.Build(Request(capture, modules, InitramfsCompression.Zstd), output);

            Assert.That(output.Length, Is.LessThan(result.UncompressedBytes));
            byte[] plain = HostCommand.RunChecked("zstd", ["-dc"], output.ToArray()).StandardOutput;
            Assert.That(plain.Length, Is.EqualTo(result.UncompressedBytes));
            Assert.That(HostCommand.RunChecked("cpio", ["-it", "--quiet"], plain).Text, Does.Contain("etc/kdumpsharp/capture.conf"));
        }
    }

    [Test]
    public void ACompressedModuleNeedsAKernelThatDecompresses()
    {
        (TempDirectory capture, TempDirectory modules) = Inputs();
        using (capture)
        using (modules)
        {
            File.WriteAllText(modules["config"], "CONFIG_MODULES=y\n# CONFIG_MODULE_DECOMPRESS is not set\n");
            CrashInitramfsRequest request = Request(capture, modules) with { Modules = ["ext4"], KernelConfig = modules["config"] };

            var e = Assert.Throws<KernelModuleNotFoundException>(() => CrashInitramfsBuilder.Build(request, new MemoryStream()));
            Assert.That(e!.Message, Does.Contain("ext4.ko.xz is compressed").And.Contain("lacks CONFIG_MODULE_DECOMPRESS=y"));

            File.WriteAllText(modules["config"], "CONFIG_MODULE_DECOMPRESS=y\n");
            CrashInitramfs result = CrashInitramfsBuilder.Build(request, new MemoryStream());
            Assert.That(result.Modules.LoadOrder.Select(m => m.Name), Is.EqualTo(new[] { "jbd2", "ext4" }));
        }
    }

    [Test]
    public void AMissingCaptureProgramIsNamed()
    {
        (TempDirectory capture, TempDirectory modules) = Inputs();
        using (capture)
        using (modules)
        {
            File.Delete(capture["kds-capture"]);
            var e = Assert.Throws<FileNotFoundException>(() => CrashInitramfsBuilder.Build(Request(capture, modules), new MemoryStream()));
            Assert.That(e!.Message, Does.Contain("no published kds-capture"));
            string path = modules["initrd.img"];
            Assert.Throws<FileNotFoundException>(() => CrashInitramfsBuilder.Build(Request(capture, modules), path));
            Assert.That(File.Exists(path), Is.False, "no half-written image is left to be armed");
            File.WriteAllText(path, "someone else's");
            Assert.Throws<IOException>(() => CrashInitramfsBuilder.Build(Request(capture, modules), path));
            Assert.That(File.ReadAllText(path), Is.EqualTo("someone else's"), "an existing file is neither overwritten nor removed");
        }
    }
}
