using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.IO;
using KdumpSharp.Kexec;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Loader;

namespace KdumpSharp.Tests.Initramfs;

public sealed class CrashInitramfsCacheTests
{
    private const string Release = "6.1.0-56-amd64";
    private static readonly Guid TargetUuid = Guid.Parse("0b7e6c42-5a0e-4d5b-9a1f-3c2d1e0f9a88");

    private const string ModulesDep =
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/drivers/virtio/virtio_ring.ko:\n" +
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\n" +
        "kernel/fs/jbd2/jbd2.ko:\n" +
        "kernel/crypto/crc32c_generic.ko:\n";

    /// <summary>
    /// A running system as crash load sees it: capture.conf naming an ext4 UUID, /dev/vdb holding
    /// that superblock, sysfs links from vdb through virtio_blk to virtio_pci, /lib/modules, and a
    /// published-program directory where a real dynamic executable stands in for kds-capture.
    /// </summary>
    private sealed class Machine : IDisposable
    {
        public FakeSystem System { get; } = new(Release);
        public TempDirectory Capture { get; } = new();

        public Machine()
        {
            File.Copy("/usr/bin/true", Capture["kds-capture"]);
            System.Write(CaptureConfiguration.DefaultPath, $"target = UUID={TargetUuid}\ncompression = zstd\n");
            byte[] disk = new byte[8192];
            BitConverter.TryWriteBytes(disk.AsSpan(1024 + 0x38), Ext4Superblock.Magic);
            TargetUuid.TryWriteBytes(disk.AsSpan(1024 + 0x68), bigEndian: true, out _);
            System.Write("/dev/vdb", disk);

            string sys = System.PathOf("/sys");
            string pci = Path.Combine(sys, "devices/pci0000:00/0000:00:05.0");
            string virtio = Path.Combine(pci, "virtio2");
            Directory.CreateDirectory(Path.Combine(virtio, "block/vdb"));
            Directory.CreateDirectory(Path.Combine(sys, "class/block"));
            File.CreateSymbolicLink(Path.Combine(sys, "class/block/vdb"), "../../devices/pci0000:00/0000:00:05.0/virtio2/block/vdb");
            File.CreateSymbolicLink(Path.Combine(virtio, "block/vdb/device"), "../../../virtio2");
            foreach ((string bus, string driver, string module) in new[] { ("virtio", "virtio_blk", "virtio_blk"), ("pci", "virtio-pci", "virtio_pci") })
            {
                Directory.CreateDirectory(Path.Combine(sys, $"bus/{bus}/drivers/{driver}"));
                Directory.CreateDirectory(Path.Combine(sys, $"module/{module}"));
                File.CreateSymbolicLink(Path.Combine(sys, $"bus/{bus}/drivers/{driver}/module"), $"../../../../module/{module}");
            }
            File.CreateSymbolicLink(Path.Combine(virtio, "driver"), "../../../../bus/virtio/drivers/virtio_blk");
            File.CreateSymbolicLink(Path.Combine(pci, "driver"), "../../../bus/pci/drivers/virtio-pci");

            System.Write($"/lib/modules/{Release}/modules.dep", ModulesDep);
            foreach (string line in ModulesDep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                System.Write($"/lib/modules/{Release}/{line[..line.IndexOf(':')]}", "module " + line[..line.IndexOf(':')]);
        }

        public SystemRoot Root => System.Root;
        public string CacheDirectory => System.PathOf(CrashInitramfsCache.DefaultDirectory);
        public CrashInitramfsRequest Request() => CrashInitramfsSources.FromSystem(Root, Capture.Path);

        public void Dispose()
        {
            System.Dispose();
            Capture.Dispose();
        }
    }

    [Test]
    public void TheRequestComesFromCaptureConfAndTheTargetsDriverChain()
    {
        using var machine = new Machine();
        CrashInitramfsRequest request = machine.Request();
        Assert.That(request.KernelRelease, Is.EqualTo(Release));
        Assert.That(request.Configuration.Target, Is.EqualTo($"UUID={TargetUuid}"));
        Assert.That(request.Modules, Is.EqualTo(new[] { "virtio_blk", "virtio_pci", "ext4", "crc32c_generic" }));
        Assert.That(request.ModulesDirectory, Is.EqualTo(machine.System.PathOf($"/lib/modules/{Release}")));
    }

    [Test]
    public void TheSecondLoadReusesTheImageTheFirstBuilt()
    {
        using var machine = new Machine();
        CachedCrashInitramfs first = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        CachedCrashInitramfs second = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);

        Assert.That(first.Reused, Is.False);
        Assert.That(second.Reused, Is.True);
        Assert.That(second.Path, Is.EqualTo(first.Path));
        Assert.That(first.Bytes, Is.EqualTo(new FileInfo(first.Path).Length).And.GreaterThan(0));
        Assert.That(File.GetUnixFileMode(first.Path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(File.GetUnixFileMode(machine.CacheDirectory), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        Assert.That(Directory.GetFiles(machine.CacheDirectory), Is.EqualTo(new[] { first.Path }), "no -incomplete left behind");
    }

    [Test]
    public void TimestampsDoNotChangeTheKey()
    {
        using var machine = new Machine();
        string before = CrashInitramfsCache.Key(machine.Request());
        string module = machine.System.PathOf($"/lib/modules/{Release}/kernel/fs/ext4/ext4.ko");
        File.SetLastWriteTimeUtc(module, DateTime.UtcNow.AddDays(-3));
        File.SetLastWriteTimeUtc(machine.Capture["kds-capture"], DateTime.UtcNow.AddDays(1));
        Assert.That(CrashInitramfsCache.Key(machine.Request()), Is.EqualTo(before));
    }

    [TestCase("a module's bytes")]
    [TestCase("kds-capture's bytes")]
    [TestCase("capture.conf")]
    [TestCase("modules.dep")]
    [TestCase("the kernel config")]
    public void EachInputChangesTheKey(string input)
    {
        using var machine = new Machine();
        CachedCrashInitramfs old = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        string modules = machine.System.PathOf($"/lib/modules/{Release}");
        switch (input)
        {
            case "a module's bytes":
                File.AppendAllText(Path.Combine(modules, "kernel/drivers/virtio/virtio_ring.ko"), "!");
                break;
            case "kds-capture's bytes":
                File.AppendAllText(machine.Capture["kds-capture"], "\0");
                break;
            case "capture.conf":
                machine.System.Write(CaptureConfiguration.DefaultPath, $"target = UUID={TargetUuid}\ncompression = lz4\n");
                break;
            case "modules.dep":
                File.AppendAllText(Path.Combine(modules, "modules.dep"), "kernel/extra/unused.ko:\n");
                break;
            case "the kernel config":
                machine.System.Write($"/boot/config-{Release}", "CONFIG_MODULE_DECOMPRESS=y\n");
                break;
        }
        CachedCrashInitramfs fresh = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        Assert.That(fresh.Key, Is.Not.EqualTo(old.Key));
        Assert.That(fresh.Reused, Is.False);
        Assert.That(fresh.Path, Is.Not.EqualTo(old.Path));
    }

    [Test]
    public void ANewImageRemovesTheOneItSupersedesAndThoseOfRemovedKernels()
    {
        using var machine = new Machine();
        CachedCrashInitramfs old = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        string installed = Path.Combine(machine.CacheDirectory, "crash-initramfs-6.12.117+deb12-amd64-0123456789abcdef.img");
        string uninstalled = Path.Combine(machine.CacheDirectory, "crash-initramfs-5.10.0-30-amd64-fedcba9876543210.img");
        string foreign = Path.Combine(machine.CacheDirectory, "crash-initramfs-notes.img");
        string building = Path.Combine(machine.CacheDirectory, "crash-initramfs-6.1.0-56-amd64-00000000000000aa.img-incomplete");
        foreach (string file in new[] { installed, uninstalled, foreign, building })
            File.WriteAllText(file, "x");
        Directory.CreateDirectory(machine.System.PathOf("/lib/modules/6.12.117+deb12-amd64"));

        CachedCrashInitramfs reused = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        Assert.That(reused.Removed, Is.Empty, "a reused image supersedes nothing");
        Assert.That(File.Exists(uninstalled), Is.True);

        machine.System.Write(CaptureConfiguration.DefaultPath, $"target = UUID={TargetUuid}\ncompression = lz4\n");
        CachedCrashInitramfs fresh = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);

        Assert.That(fresh.Removed, Is.EquivalentTo(new[] { old.Path, uninstalled }));
        Assert.That(Directory.GetFiles(machine.CacheDirectory), Is.EquivalentTo(new[] { fresh.Path, installed, foreign, building }),
            "another installed release's image, a file the cache did not name and a build in progress stay");
    }

    [Test]
    public void AFailedBuildLeavesNothingUnderEitherName()
    {
        using var machine = new Machine();
        File.Delete(machine.System.PathOf($"/lib/modules/{Release}/kernel/fs/jbd2/jbd2.ko"));
        Assert.That(() => CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory), Throws.InstanceOf<Exception>());
        Assert.That(Directory.Exists(machine.CacheDirectory) ? Directory.GetFiles(machine.CacheDirectory) : [], Is.Empty);
    }

    [Test]
    public void ALeftoverIncompleteImageIsReplaced()
    {
        using var machine = new Machine();
        string key = CrashInitramfsCache.Key(machine.Request());
        Directory.CreateDirectory(machine.CacheDirectory);
        string leftover = Path.Combine(machine.CacheDirectory, $"crash-initramfs-{Release}-{key[..16]}.img{CrashSafeFile.IncompleteSuffix}");
        File.WriteAllText(leftover, "half");
        CachedCrashInitramfs built = CrashInitramfsCache.GetOrBuild(machine.Request(), machine.CacheDirectory);
        Assert.That(built.Reused, Is.False);
        Assert.That(File.Exists(leftover), Is.False);
    }

    [Test]
    public void CrashLoadWithoutCaptureConfNamesTheFile()
    {
        using var machine = new Machine();
        File.Delete(machine.System.PathOf(CaptureConfiguration.DefaultPath));
        var output = new StringWriter();
        var error = new StringWriter();
        int code = KdumpSharp.Loader.LoaderCli.Run(["crash", "load", "--capture-dir", machine.Capture.Path], output, error, machine.Root);
        Assert.That(code, Is.EqualTo(KdumpSharp.Loader.ExitCodes.CrashInitramfs));
        Assert.That(error.ToString(), Does.StartWith("kds-loader: /etc/kdumpsharp/capture.conf: no such file;"));
        Assert.That(error.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void CrashLoadWithATargetNotAttachedSaysSo()
    {
        using var machine = new Machine();
        machine.System.Write(CaptureConfiguration.DefaultPath, "target = LABEL=elsewhere\n");
        var error = new StringWriter();
        int code = KdumpSharp.Loader.LoaderCli.Run(["crash", "load", "--capture-dir", machine.Capture.Path], new StringWriter(), error, machine.Root);
        Assert.That(code, Is.EqualTo(KdumpSharp.Loader.ExitCodes.CrashInitramfs));
        Assert.That(error.ToString(), Does.Contain("target LABEL=elsewhere is not attached to this machine"));
    }

    [Test]
    public void CrashLoadWithoutKdsCaptureNamesWhereItLooked()
    {
        using var machine = new Machine();
        var error = new StringWriter();
        int code = KdumpSharp.Loader.LoaderCli.Run(["crash", "load", "--capture-dir", machine.System.PathOf("/nowhere")], new StringWriter(), error, machine.Root);
        Assert.That(code, Is.EqualTo(KdumpSharp.Loader.ExitCodes.CrashInitramfs));
        Assert.That(error.ToString(), Does.Contain("/nowhere/kds-capture: no such file"));
    }
}
