using KdumpSharp.Kexec;
using static KdumpSharp.Kexec.KexecErrno;

namespace KdumpSharp.Tests.Loader;

/// <summary>The kernel reuses errnos for several causes; the translation names the one the system state points to.</summary>
public class KexecErrorsTests
{
    private static KexecFailureException Translate(int errno, KexecOperation operation, bool crash, string lockdown = "[none] integrity confidentiality", ulong crashSize = 112 << 20)
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: crashSize, lockdown: lockdown);
        var request = new KexecFileRequest("/boot/vmlinuz", "/boot/initrd.img", "x", crash);
        return KexecErrors.Translate(errno, operation, request, KexecStatus.Read(system.Root), system.Root);
    }

    [Test]
    public void Eperm_under_lockdown_is_an_untrusted_signature()
    {
        KexecFailureException e = Translate(EPERM, KexecOperation.FileLoad, crash: false, lockdown: "none [integrity] confidentiality");

        Assert.That((e.Kind, e.Errno), Is.EqualTo((KexecFailureKind.Forbidden, EPERM)));
        Assert.That(e.Message, Does.StartWith("kexec_file_load failed with EPERM: the kernel is locked down (integrity)"));
    }

    [TestCase(ENOEXEC, false, KexecFailureKind.NotBzImage)]
    [TestCase(ENOMEM, true, KexecFailureKind.RegionTooSmall)]
    [TestCase(EADDRNOTAVAIL, true, KexecFailureKind.RegionTooSmall)]
    [TestCase(ENOMEM, false, KexecFailureKind.Failed)]
    [TestCase(EKEYREJECTED, false, KexecFailureKind.Forbidden)]
    [TestCase(EACCES, false, KexecFailureKind.Forbidden)]
    [TestCase(ENOSYS, false, KexecFailureKind.Unsupported)]
    [TestCase(EBUSY, false, KexecFailureKind.Failed)]
    public void File_load_errnos_name_their_cause(int errno, bool crash, KexecFailureKind kind)
    {
        KexecFailureException e = Translate(errno, KexecOperation.FileLoad, crash);

        Assert.That(e.Kind, Is.EqualTo(kind), e.Message);
        Assert.That(e.Message, Does.StartWith($"kexec_file_load failed with {Name(errno)}: "));
    }

    [Test]
    public void Region_too_small_says_the_reservation_size() =>
        Assert.That(Translate(ENOMEM, KexecOperation.FileLoad, crash: true, crashSize: 64 << 20).Message, Does.Contain("the 64 MiB crashkernel reservation"));

    [Test]
    public void Reboot_einval_means_nothing_is_loaded() =>
        Assert.That(Translate(EINVAL, KexecOperation.Reboot, crash: false).Kind, Is.EqualTo(KexecFailureKind.NothingLoaded));

    [TestCase(ENOSYS, true)]
    [TestCase(ENOEXEC, true)]
    [TestCase(EINVAL, true)]
    [TestCase(ENOTSUPP, true)]
    [TestCase(EKEYREJECTED, false)]
    [TestCase(ENOKEY, false)]
    [TestCase(EBADMSG, false)]
    [TestCase(EPERM, false)]
    [TestCase(ENOMEM, false)]
    public void Classic_is_tried_only_where_it_can_load_what_the_file_path_refused(int errno, bool expected) =>
        Assert.That(KexecErrors.ClassicCouldLoad(errno), Is.EqualTo(expected));
}
