using System.Diagnostics;
using System.Text;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests;

/// <summary>
/// The guest image for each kernel, built on the host without booting: the product resolvers
/// on real Debian inputs (modules.dep, kexec's library closure), checked with Debian's cpio.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class GuestImageTests(TestKernel kernel)
{
    private string _directory = null!;
    private GuestImage.Initramfs _image = null!;

    [OneTimeSetUp]
    public void Build()
    {
        kernel.EnsureInstalled();
        _directory = Directory.CreateTempSubdirectory("kds-guest-").FullName;
        _image = GuestImage.BuildInitramfs(kernel, Path.Combine(_directory, "initramfs.cpio.gz"));
    }

    [OneTimeTearDown]
    public void Remove() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void ModulesLoadDependenciesFirst()
    {
        var order = _image.Modules.LoadOrder.Select(m => m.Name).ToList();
        if (kernel == TestKernel.Debian61)
        {
            Assert.That(order, Is.EqualTo(new[] { "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci", "virtio_blk" }));
            Assert.That(_image.Modules.BuiltIn, Is.Empty);
        }
        else
        {
            // 6.12 builds virtio and virtio_pci in and ships modules as .ko.xz.
            Assert.That(order, Is.EqualTo(new[] { "virtio_blk" }));
            Assert.That(_image.Modules.BuiltIn, Is.EqualTo(new[] { "virtio_pci" }));
            Assert.That(_image.Modules.LoadOrder.Single().RelativePath, Does.EndWith(".ko.xz"));
        }
    }

    [Test]
    public void CpioListsInitBusyboxKexecItsLibrariesAndTheModules()
    {
        string listing = CpioListing();
        var names = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.That(names, Is.Unique);
        Assert.That(names, Does.Contain("init"));
        Assert.That(names, Does.Contain("dev/console"));
        Assert.That(names, Does.Contain("bin/busybox"));
        Assert.That(names, Does.Contain("bin/sh"));
        Assert.That(names, Does.Contain("usr/sbin/kexec"));
        Assert.That(names, Does.Contain("lib64/ld-linux-x86-64.so.2"));
        Assert.That(names, Does.Contain("lib/x86_64-linux-gnu/libc.so.6"));
        // kexec-tools links libxenctrl, which pulls in the other Xen libraries.
        Assert.That(names, Does.Contain("lib/x86_64-linux-gnu/libxenctrl.so.4.17"));
        Assert.That(names, Does.Contain("lib/x86_64-linux-gnu/libxentoolcore.so.1"));
        foreach (var module in _image.Modules.LoadOrder)
            Assert.That(names, Does.Contain($"lib/modules/{kernel.Release}/{module.RelativePath}"));
        Assert.That(_image.Files, Is.SubsetOf(names));
    }

    [Test]
    public void ModuleListMatchesTheArchive()
    {
        string list = Encoding.UTF8.GetString(Extract(BusyboxInitramfs.ModuleListPath));

        Assert.That(list, Is.EqualTo(string.Concat(_image.Modules.LoadOrder.Select(m => $"/lib/modules/{kernel.Release}/{m.RelativePath}\n"))));
    }

    [Test]
    public void InitIsTheEmbeddedScriptWithItsLibraryBeside()
    {
        Assert.That(Encoding.UTF8.GetString(Extract("init")), Is.EqualTo(GuestImage.InitScript));
        Assert.That(GuestImage.InitScript, Does.StartWith("#!/bin/sh\n"));
        Assert.That(GuestImage.InitScript, Does.Contain($"\n. /{BusyboxInitramfs.GuestLibraryPath}\n"));
        Assert.That(Encoding.UTF8.GetString(Extract(BusyboxInitramfs.GuestLibraryPath)), Is.EqualTo(BusyboxInitramfs.GuestLibrary));
        Assert.That(BusyboxInitramfs.GuestLibrary, Does.Contain("\nload_modules() {\n"));
    }

    [Test]
    public void StaysSmall()
    {
        // busybox (2 MiB) + kexec and glibc + a few modules: a few MiB compressed. A much larger
        // image means something unintended was pulled in, and costs crash-kernel memory.
        Assert.That(_image.CompressedBytes, Is.LessThan(4 << 20));
    }

    [Test]
    public void PayloadDiskHoldsKernelAndInitramfsAtBlockBoundaries()
    {
        string disk = Path.Combine(_directory, $"payload-{Guid.NewGuid():n}.img");
        GuestImage.WritePayloadDisk(disk, kernel.Vmlinuz, _image.Path, "console=ttyS0 x=1");
        byte[] bytes = File.ReadAllBytes(disk);
        byte[] vmlinuz = File.ReadAllBytes(kernel.Vmlinuz);
        byte[] initramfs = File.ReadAllBytes(_image.Path);

        string[] lines = Encoding.ASCII.GetString(bytes, 0, 200).Split('\n');
        Assert.That(lines[0], Is.EqualTo($"KDSPAYLOAD1 {vmlinuz.Length} {initramfs.Length}"));
        Assert.That(lines[1], Is.EqualTo("console=ttyS0 x=1"));
        Assert.That(bytes.AsSpan(4096, vmlinuz.Length).SequenceEqual(vmlinuz), Is.True);
        int initramfsAt = 4096 + (vmlinuz.Length + 4095) / 4096 * 4096;
        Assert.That(bytes.AsSpan(initramfsAt, initramfs.Length).SequenceEqual(initramfs), Is.True);
        Assert.That(bytes.Length % 4096, Is.Zero);
    }

    private string CpioListing() => Encoding.UTF8.GetString(Shell($"zcat '{_image.Path}' | cpio -it --quiet"));

    private byte[] Extract(string name) => Shell($"zcat '{_image.Path}' | cpio -i --quiet --to-stdout '{name}'");

    private static byte[] Shell(string command)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("set -o pipefail; " + command);
        using Process process = Process.Start(start)!;
        var output = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        copy.Wait();
        Assert.That(process.ExitCode, Is.Zero, $"{command}: {stderr}");
        return output.ToArray();
    }
}
