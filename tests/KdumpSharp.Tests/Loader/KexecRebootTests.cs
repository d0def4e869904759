using KdumpSharp.Kexec;

namespace KdumpSharp.Tests.Loader;

/// <summary>The graceful exec hands over to systemd; a stand-in systemctl records what it was asked.</summary>
public class KexecRebootTests
{
    [TestCase(0, null)]
    [TestCase(1, "systemctl kexec exited with 1: no kexec for you")]
    public void Graceful_exec_runs_systemctl_kexec(int exitCode, string? failure)
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: true, crashLoaded: false, crashSize: 0);
        string record = system.PathOf("/called");
        string systemctl = system.Write("/bin/systemctl", $"#!/bin/sh\necho \"$@\" > {record}\necho 'no kexec for you' >&2\nexit {exitCode}\n");
        File.SetUnixFileMode(systemctl, UnixFileMode.UserRead | UnixFileMode.UserExecute);

        if (failure is null)
            KexecReboot.ThroughSystemd(system.Root, systemctl);
        else
            Assert.That(() => KexecReboot.ThroughSystemd(system.Root, systemctl), Throws.TypeOf<KexecFailureException>().With.Message.EqualTo(failure));

        Assert.That(File.ReadAllText(record), Is.EqualTo("kexec\n"));
    }

    [Test]
    public void Graceful_exec_with_nothing_loaded_never_calls_systemctl()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);

        var e = Assert.Throws<KexecFailureException>(() => KexecReboot.ThroughSystemd(system.Root, "/nonexistent/systemctl"));

        Assert.That(e!.Kind, Is.EqualTo(KexecFailureKind.NothingLoaded));
    }
}
