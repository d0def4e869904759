using KdumpSharp.Kexec;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kexec;

public class KexecLoadTests
{
    [TestCase(1, "EPERM", "CAP_SYS_BOOT")]
    [TestCase(13, "EACCES", "kexec_file_load")]
    [TestCase(99, "EADDRNOTAVAIL", "Crash kernel")]
    [TestCase(12, "ENOMEM", "crashkernel=")]
    [TestCase(16, "EBUSY", "in progress")]
    [TestCase(22, "EINVAL", "over 16")]
    [TestCase(38, "ENOSYS", "CONFIG_KEXEC")]
    public void Each_errno_becomes_one_line_with_a_hint(int errno, string name, string hint)
    {
        using var root = new TempDirectory();
        KexecException e = KexecLoad.ErrorFor(errno, KexecLoadFlags.OnCrash | KexecLoadFlags.ArchX86_64, root.Path);
        Assert.That(e.Errno, Is.EqualTo(errno));
        Assert.That(e.Message, Does.StartWith("kexec_load (crash kernel): ").And.Contain(name).And.Not.Contain("\n"));
        Assert.That(e.Hint, Does.Contain(hint));
    }

    [Test]
    public void Eperm_names_kexec_load_disabled_or_lockdown_when_they_are_the_cause()
    {
        using var root = new TempDirectory();
        SampleSystemWrite(root, "sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
        Assert.That(KexecLoad.ErrorFor(1, KexecLoadFlags.None, root.Path).Hint, Does.Contain("locked down (none [integrity] confidentiality)"));
        SampleSystemWrite(root, "proc/sys/kernel/kexec_load_disabled", "1\n");
        Assert.That(KexecLoad.ErrorFor(1, KexecLoadFlags.None, root.Path).Hint, Does.Contain("kexec_load_disabled is 1"));
    }

    private static void SampleSystemWrite(TempDirectory root, string relative, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(root[relative])!);
        File.WriteAllText(root[relative], text);
    }

    [Test]
    public unsafe void The_real_syscall_reports_its_errno_for_an_architecture_no_kernel_accepts()
    {
        // Arch 0xffff is no machine: the kernel answers EPERM (not root), EINVAL (root) or ENOSYS
        // (no kexec / seccomp) and never loads anything — safe to run on any host.
        var e = Assert.Throws<KexecException>(() => KexecLoad.Invoke(0, 0, null, (KexecLoadFlags)0xffff0000UL, "/"));
        Assert.That(e!.Errno, Is.AnyOf(1, 22, 38));
        TestContext.Out.WriteLine(e.Message);
    }

    [Test]
    public void Images_breaking_the_kernel_rules_are_refused_before_the_syscall()
    {
        byte[] page = new byte[4096];
        KexecSegment At(ulong address, ulong memsz) => new(page, new PhysicalAddress(address), memsz);
        Assert.That(Assert.Throws<KexecException>(() => KexecLoad.Load(new KexecImage([At(0x1000800, 0x1000)], 0x1000800), KexecLoadFlags.None))!.Message, Does.Contain("not page-aligned"));
        Assert.That(Assert.Throws<KexecException>(() => KexecLoad.Load(new KexecImage([At(0x1000000, 0x2000), At(0x1001000, 0x1000)], 0x1000000), KexecLoadFlags.None))!.Message, Does.Contain("overlap"));
        Assert.That(Assert.Throws<KexecException>(() => KexecLoad.Load(new KexecImage([At(0x1000000, 0x1000)], 0x5000000), KexecLoadFlags.None))!.Message, Does.Contain("in no segment"));
        Assert.That(Assert.Throws<KexecException>(() => KexecLoad.Load(new KexecImage([new KexecSegment(new byte[8192], new PhysicalAddress(0x1000000), 0x1000)], 0x1000000), KexecLoadFlags.None))!.Message, Does.Contain("bytes for"));
        var many = Enumerable.Range(0, 17).Select(i => At(0x1000000 + (ulong)i * 0x1000, 0x1000)).ToList();
        Assert.That(Assert.Throws<KexecException>(() => KexecLoad.Load(new KexecImage(many, 0x1000000), KexecLoadFlags.None))!.Message, Does.Contain("17 segments"));
    }
}
