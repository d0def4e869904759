using KdumpSharp.Initramfs;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Initramfs;

public sealed class KernelModuleResolverTests
{
    /// <summary>The shape of Debian 6.1's virtio lines, plus compressed and dashed names.</summary>
    private const string ModulesDep =
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/drivers/virtio/virtio_ring.ko:\n" +
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n" +
        "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/fs/foo-bar.ko.zst:\n" +
        "kernel/fs/old.ko.gz:\n";

    private static TempDirectory ModulesDirectory(string dep = ModulesDep, string? builtin = "kernel/drivers/char/virtio_console.ko\n", bool createFiles = true)
    {
        var dir = new TempDirectory();
        File.WriteAllText(dir["modules.dep"], dep);
        if (builtin is not null)
            File.WriteAllText(dir["modules.builtin"], builtin);
        if (createFiles)
        {
            foreach (string line in dep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string path = dir[line[..line.IndexOf(':')]];
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, "module");
            }
        }
        return dir;
    }

    [Test]
    public void DependenciesComeFirstInModprobeOrder()
    {
        using TempDirectory dir = ModulesDirectory();

        KernelModuleClosure closure = new KernelModuleResolver(dir.Path).Resolve(["virtio_pci", "virtio_blk"]);

        Assert.That(closure.LoadOrder.Select(m => m.Name),
            Is.EqualTo(new[] { "virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci", "virtio_blk" }));
        Assert.That(closure.BuiltIn, Is.Empty);
        KernelModule blk = closure.LoadOrder[^1];
        Assert.That(blk, Is.EqualTo(new KernelModule("virtio_blk", "kernel/drivers/block/virtio_blk.ko.xz",
            dir["kernel/drivers/block/virtio_blk.ko.xz"], ModuleCompression.Xz)));
    }

    [Test]
    public void EachModuleOnceWhateverIsAskedTwice()
    {
        using TempDirectory dir = ModulesDirectory();

        KernelModuleClosure closure = new KernelModuleResolver(dir.Path).Resolve(["virtio_blk", "virtio", "virtio_blk.ko.xz"]);

        Assert.That(closure.LoadOrder.Select(m => m.Name), Is.EqualTo(new[] { "virtio_ring", "virtio", "virtio_blk" }));
    }

    [TestCase("foo-bar")]
    [TestCase("foo_bar")]
    [TestCase("kernel/fs/foo-bar.ko.zst")]
    public void DashesAndUnderscoresNameTheSameModule(string requested)
    {
        using TempDirectory dir = ModulesDirectory();

        KernelModule module = new KernelModuleResolver(dir.Path).Resolve([requested]).LoadOrder.Single();

        Assert.That((module.Name, module.Compression), Is.EqualTo(("foo_bar", ModuleCompression.Zstd)));
    }

    [Test]
    public void GzipIsRecognised()
    {
        using TempDirectory dir = ModulesDirectory();

        Assert.That(new KernelModuleResolver(dir.Path).Resolve(["old"]).LoadOrder.Single().Compression, Is.EqualTo(ModuleCompression.Gzip));
    }

    [Test]
    public void BuiltInModulesNeedNoFile()
    {
        using TempDirectory dir = ModulesDirectory();

        KernelModuleClosure closure = new KernelModuleResolver(dir.Path).Resolve(["virtio-console", "virtio_ring"]);

        Assert.That(closure.BuiltIn, Is.EqualTo(new[] { "virtio_console" }));
        Assert.That(closure.LoadOrder.Select(m => m.Name), Is.EqualTo(new[] { "virtio_ring" }));
    }

    [Test]
    public void AnUnknownModuleIsNotFound()
    {
        using TempDirectory dir = ModulesDirectory();

        var e = Assert.Throws<KernelModuleNotFoundException>(() => new KernelModuleResolver(dir.Path).Resolve(["nvme"]));

        Assert.That(e!.Module, Is.EqualTo("nvme"));
        Assert.That(e.Message, Is.EqualTo($"{dir.Path}: module nvme: not in modules.dep and not built in (modules.builtin)"));
    }

    [Test]
    public void AListedButMissingFileIsNotFound()
    {
        using TempDirectory dir = ModulesDirectory(createFiles: false);

        var e = Assert.Throws<KernelModuleNotFoundException>(() => new KernelModuleResolver(dir.Path).Resolve(["virtio_ring"]));

        Assert.That(e!.Message, Does.EndWith("module virtio_ring: modules.dep lists kernel/drivers/virtio/virtio_ring.ko, which does not exist"));
    }

    [Test]
    public void WithoutModulesDepTheMessageSaysHowToMakeIt()
    {
        using var dir = new TempDirectory();

        var e = Assert.Throws<ConfigurationFormatException>(() => new KernelModuleResolver(dir.Path).Resolve(["x"]));

        Assert.That(e!.Message, Does.Contain("modules.dep: missing; generate it with: depmod -b <root> "));
    }

    [Test]
    public void ALineWithoutAColonIsReportedWithItsNumber()
    {
        using TempDirectory dir = ModulesDirectory("kernel/a.ko:\nkernel/b.ko kernel/a.ko\n", createFiles: false);

        var e = Assert.Throws<ConfigurationFormatException>(() => new KernelModuleResolver(dir.Path).Resolve(["a"]));

        Assert.That(e!.Line, Is.EqualTo(2));
        Assert.That(e.Message, Does.EndWith("modules.dep:2: expected 'module-path: dependency-paths'"));
    }

    [Test]
    public void ADependencyWithoutItsOwnLineIsReported()
    {
        using TempDirectory dir = ModulesDirectory("kernel/a.ko: kernel/gone.ko\n");

        var e = Assert.Throws<ConfigurationFormatException>(() => new KernelModuleResolver(dir.Path).Resolve(["a"]));

        Assert.That(e!.Message, Does.EndWith("modules.dep:1: a depends on kernel/gone.ko, which has no line of its own"));
    }

    [Test]
    public void ACycleIsReported()
    {
        using TempDirectory dir = ModulesDirectory("kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n");

        var e = Assert.Throws<ConfigurationFormatException>(() => new KernelModuleResolver(dir.Path).Resolve(["a"]));

        Assert.That(e!.Message, Does.Contain("dependency cycle through"));
    }

    [Test]
    public void ANonModulePathIsReported()
    {
        using TempDirectory dir = ModulesDirectory("kernel/a.o:\n", createFiles: false);

        var e = Assert.Throws<ConfigurationFormatException>(() => new KernelModuleResolver(dir.Path).Resolve(["a"]));

        Assert.That(e!.Message, Does.EndWith("modules.dep:1: 'kernel/a.o' is not a .ko, .ko.gz, .ko.xz or .ko.zst file"));
    }
}
