using KdumpSharp.Kexec;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Loader;

public class KexecStatusTests
{
    [Test]
    public void Reads_the_flags_the_reservation_and_lockdown_from_sysfs_and_iomem()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: true, crashLoaded: false, crashSize: 112 << 20, lockdown: "none [integrity] confidentiality");

        KexecStatus status = KexecStatus.Read(system.Root);

        Assert.That((status.Loaded, status.CrashLoaded, status.CrashSize, status.Lockdown, status.LoadDisabled),
            Is.EqualTo(((bool?)true, (bool?)false, (ulong?)(112UL << 20), "integrity", (bool?)false)));
        Assert.That(status.CrashRanges, Is.EqualTo(new[] { PhysicalRange.FromLength(0x9000000, 112UL << 20) }));
        Assert.That(status.SecureBoot, Is.EqualTo(SecureBootState.NotEfi));
        Assert.That(status.ClassicLoadForbidden, Is.True, "integrity lockdown closes kexec_load");
    }

    [Test]
    public void A_missing_sysfs_is_unknown_not_false()
    {
        using var system = new FakeSystem();

        KexecStatus status = KexecStatus.Read(system.Root);

        Assert.That((status.Loaded, status.CrashLoaded, status.CrashSize, status.Lockdown), Is.EqualTo(((bool?)null, (bool?)null, (ulong?)null, (string?)null)));
        Assert.That(status.ClassicLoadForbidden, Is.False);
    }

    [Test]
    public void Iomem_finds_crash_kernel_ranges_at_any_depth_and_notices_hidden_addresses()
    {
        const string iomem = "00000000-00000fff : Reserved\n00100000-bffdffff : System RAM\n  a9000000-b0ffffff : Crash kernel\n"
            + "100000000-23fffffff : System RAM\n    30000000-3fffffff : Crash kernel\n";
        var (ranges, hidden) = KexecStatus.ParseIomem(iomem);
        Assert.That(hidden, Is.False);
        Assert.That(ranges, Is.EqualTo(new[] { PhysicalRange.FromLength(0xa9000000, 0x8000000), PhysicalRange.FromLength(0x30000000, 0x10000000) }));

        var (none, wasHidden) = KexecStatus.ParseIomem("00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n  00000000-00000000 : Crash kernel\n");
        Assert.That((none.Count, wasHidden), Is.EqualTo((0, true)));
    }

    [TestCase(new byte[] { 6, 0, 0, 0, 1 }, new byte[] { 6, 0, 0, 0, 0 }, SecureBootState.Enabled)]
    [TestCase(new byte[] { 6, 0, 0, 0, 1 }, new byte[] { 6, 0, 0, 0, 1 }, SecureBootState.Disabled)]
    [TestCase(new byte[] { 6, 0, 0, 0, 0 }, new byte[] { 6, 0, 0, 0, 0 }, SecureBootState.Disabled)]
    [TestCase(null, null, SecureBootState.Unknown)]
    public void Secure_boot_is_enforced_when_secureboot_is_1_outside_setup_mode(byte[]? secureBoot, byte[]? setupMode, SecureBootState expected)
    {
        using var system = new FakeSystem();
        System.IO.Directory.CreateDirectory(system.PathOf("/sys/firmware/efi/efivars"));
        if (secureBoot is not null)
            system.Write("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0c29ba2e9e5", secureBoot);
        if (setupMode is not null)
            system.Write("/sys/firmware/efi/efivars/SetupMode-8be4df61-93ca-11d2-aa0d-e0c29ba2e9e5", setupMode);

        KexecStatus status = KexecStatus.Read(system.Root);

        Assert.That(status.SecureBoot, Is.EqualTo(expected));
        Assert.That(status.ClassicLoadForbidden, Is.EqualTo(expected == SecureBootState.Enabled));
    }

    [Test]
    public void The_file_load_limit_keeps_room_for_elfcorehdr()
    {
        using var system = new FakeSystem();
        BzImage image = BzImage.Read(system.WriteBzImage("/boot/vmlinuz"));

        Assert.That(image.Header.CommandLineSize, Is.EqualTo(2047u));
        Assert.That(image.MaxFileLoadCommandLine, Is.EqualTo(2016), "cmdline_len with its NUL may be 2017 on 6.1 (kexec-abi.md)");
        Assert.Throws<BzImageFormatException>(() => BzImage.Read(system.Write("/boot/elf", "\u007fELF" + new string('\0', 600))));
    }
}
