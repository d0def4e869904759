using KdumpSharp.Kexec;

namespace KdumpSharp.Tests.Loader;

public class BootEntryFinderTests
{
    private const string Release = "6.1.0-56-amd64";

    [TestCase("vmlinuz-{0}", "initrd.img-{0}", TestName = "Debian and Ubuntu: vmlinuz-R, initrd.img-R")]
    [TestCase("vmlinuz-{0}", "initramfs-{0}.img", TestName = "Fedora and RHEL: vmlinuz-R, initramfs-R.img")]
    [TestCase("vmlinuz-{0}", "initrd-{0}", TestName = "SUSE: vmlinuz-R, initrd-R")]
    [TestCase("kernel-{0}", "initrd-{0}.img", TestName = "installkernel: kernel-R, initrd-R.img")]
    [TestCase("bzImage-{0}", "initramfs-{0}.img", TestName = "make install style: bzImage-R")]
    [TestCase("kernel-genkernel-x86_64-{0}", "initramfs-genkernel-x86_64-{0}", TestName = "Gentoo genkernel")]
    public void Finds_the_running_release_under_each_naming_scheme(string kernelName, string initrdName)
    {
        using var system = new FakeSystem(Release);
        string kernel = system.Write("/boot/" + string.Format(kernelName, Release), "k");
        string initrd = system.Write("/boot/" + string.Format(initrdName, Release), "i");
        system.Write("/boot/vmlinuz-6.1.0-55-amd64", "older");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That((entry.Kernel, entry.Initrd, entry.Options), Is.EqualTo((kernel, initrd, (string?)null)));
        Assert.That(entry.Reason, Does.Contain("running kernel's release " + Release).And.Contain("uname -r"));
    }

    [Test]
    public void Arch_names_files_after_the_package_in_pkgbase()
    {
        using var system = new FakeSystem("6.6.1-arch1-1");
        system.Write("/usr/lib/modules/6.6.1-arch1-1/pkgbase", "linux-lts\n");
        string kernel = system.Write("/boot/vmlinuz-linux-lts", "k");
        string initrd = system.Write("/boot/initramfs-linux-lts.img", "i");
        system.Write("/boot/vmlinuz-linux", "another package");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That((entry.Kernel, entry.Initrd), Is.EqualTo((kernel, initrd)));
        Assert.That(entry.Reason, Does.Contain("package linux-lts").And.Contain("pkgbase"));
    }

    [Test]
    public void Says_when_the_running_release_has_no_initramfs()
    {
        using var system = new FakeSystem(Release);
        system.Write($"/boot/vmlinuz-{Release}", "k");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That(entry.Initrd, Is.Null);
        Assert.That(entry.Reason, Does.Contain("no initramfs found"));
    }

    [Test]
    public void Bls_default_comes_from_loader_conf_glob()
    {
        using var system = new FakeSystem("6.9.0-other");
        system.Write("/boot/loader/entries/fedora-6.10.conf", "title Fedora (6.10)\nversion 6.10.0\nlinux /vmlinuz-6.10\ninitrd /initramfs-6.10.img\noptions root=/dev/vda1 ro\n");
        system.Write("/boot/loader/entries/fedora-6.8.conf", "title Fedora (6.8)\nversion 6.8.0\nlinux /vmlinuz-6.8\ninitrd /initramfs-6.8.img\noptions root=/dev/vda1\noptions quiet\n");
        system.Write("/efi/loader/loader.conf", "timeout 3\ndefault fedora-6.8*\n");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That(entry.Kernel, Is.EqualTo(system.PathOf("/boot/vmlinuz-6.8")));
        Assert.That(entry.Initrd, Is.EqualTo(system.PathOf("/boot/initramfs-6.8.img")));
        Assert.That(entry.Options, Is.EqualTo("root=/dev/vda1 quiet"));
        Assert.That(entry.Reason, Does.Contain("fedora-6.8.conf").And.Contain("/efi/loader/loader.conf says 'fedora-6.8*'"));
    }

    [Test]
    public void Bls_without_a_default_takes_the_newest_version()
    {
        using var system = new FakeSystem("none");
        system.Write("/efi/loader/entries/a-6.9.conf", "version 6.9.2\nlinux /EFI/a/6.9/linux\noptions ro\n");
        system.Write("/efi/loader/entries/a-6.10.conf", "version 6.10.1\nlinux /EFI/a/6.10/linux\ninitrd /EFI/a/6.10/initrd\ninitrd /EFI/a/6.10/ucode\n");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That(entry.Kernel, Is.EqualTo(system.PathOf("/efi/EFI/a/6.10/linux")));
        Assert.That(entry.Reason, Does.Contain("sorts first").And.Contain("only its first initrd of 2"));
    }

    private const string GrubConfig = """
        set default="${saved_entry}"
        function load_video {
          insmod all_video
        }
        menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-abc' {
            load_video
            linux   /boot/vmlinuz-6.12.0-1-amd64 root=UUID=abc ro quiet
            initrd  /boot/initrd.img-6.12.0-1-amd64
        }
        submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-abc' {
            menuentry 'Debian GNU/Linux, with Linux 6.12.0-1-amd64' --class debian $menuentry_id_option 'gnulinux-6.12.0-1-amd64-advanced-abc' {
                linux   /boot/vmlinuz-6.12.0-1-amd64 root=UUID=abc ro quiet
                initrd  /boot/initrd.img-6.12.0-1-amd64
            }
            menuentry 'Debian GNU/Linux, with Linux 6.1.0-56-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-56-amd64-advanced-abc' {
                if [ x$feature_all_video_module = xy ]; then
                  insmod all_video
                fi
                linux   /boot/vmlinuz-6.1.0-56-amd64 root=UUID=abc ro console=ttyS0
                initrd  /boot/initrd.img-6.1.0-56-amd64
            }
        }
        """;

    [TestCase("saved_entry=gnulinux-advanced-abc>gnulinux-6.1.0-56-amd64-advanced-abc\n", "6.1.0-56-amd64", "root=UUID=abc ro console=ttyS0", TestName = "GRUB saved_entry as an id path into the submenu")]
    [TestCase("saved_entry=Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-56-amd64\n", "6.1.0-56-amd64", "root=UUID=abc ro console=ttyS0", TestName = "GRUB saved_entry as a title path")]
    [TestCase("saved_entry=1>0\n", "6.12.0-1-amd64", "root=UUID=abc ro quiet", TestName = "GRUB saved_entry as indexes")]
    [TestCase("# GRUB Environment Block\n", "6.12.0-1-amd64", "root=UUID=abc ro quiet", TestName = "GRUB with no saved_entry takes the first entry")]
    public void Grub_default_entry(string grubenv, string release, string options)
    {
        using var system = new FakeSystem("not-installed");
        system.Write("/boot/grub/grub.cfg", GrubConfig);
        system.Write("/boot/grub/grubenv", grubenv + new string('#', 200));
        string kernel = system.Write($"/boot/vmlinuz-{release}", "k");
        string initrd = system.Write($"/boot/initrd.img-{release}", "i");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That((entry.Kernel, entry.Initrd, entry.Options), Is.EqualTo((kernel, initrd, options)));
        Assert.That(entry.Reason, Does.Contain("GRUB's default entry"));
    }

    [Test]
    public void Grub_paths_on_a_separate_boot_partition_resolve_under_boot()
    {
        using var system = new FakeSystem("not-installed");
        system.Write("/boot/grub2/grub.cfg", "set default=0\nmenuentry 'Linux' {\n linux /vmlinuz-6.5 root=/dev/sda2\n initrd /initramfs-6.5.img\n}\n");
        string kernel = system.Write("/boot/vmlinuz-6.5", "k");

        BootEntry entry = new BootEntryFinder(system.Root).Find();

        Assert.That(entry.Kernel, Is.EqualTo(kernel));
        Assert.That(entry.Initrd, Is.Null, "the initramfs named by the entry does not exist");
    }

    [Test]
    public void The_running_release_wins_over_boot_loader_entries()
    {
        using var system = new FakeSystem(Release);
        string kernel = system.Write($"/boot/vmlinuz-{Release}", "k");
        system.Write("/boot/loader/entries/x.conf", "linux /vmlinuz-other\n");

        Assert.That(new BootEntryFinder(system.Root).Find().Kernel, Is.EqualTo(kernel));
    }

    [Test]
    public void Nothing_found_is_a_typed_failure_naming_what_was_tried()
    {
        using var system = new FakeSystem(Release);

        var e = Assert.Throws<KexecFailureException>(() => new BootEntryFinder(system.Root).Find());

        Assert.That(e!.Kind, Is.EqualTo(KexecFailureKind.NoKernelFound));
        Assert.That(e.Message, Does.Contain($"/boot/vmlinuz-{Release}").And.Contain("Boot Loader Specification").And.Contain("GRUB"));
    }

    [TestCase("6.10", "6.9", 1)]
    [TestCase("6.1.0-56", "6.1.0-9", 1)]
    [TestCase("a", "a", 0)]
    [TestCase("6.1", "6.1.1", -1)]
    public void Version_comparison_counts_digit_runs_as_numbers(string a, string b, int sign) =>
        Assert.That(Math.Sign(BlsEntry.VersionCompare(a, b)), Is.EqualTo(sign));
}
