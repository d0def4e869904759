using KdumpSharp.Kexec;

namespace KdumpSharp.Tests.Loader;

public class KernelCommandLineTests
{
    private const string Proc = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=1234 ro quiet crashkernel=384M-:128M hugepages=16";

    [Test]
    public void Reuse_drops_boot_image_and_keeps_crashkernel_for_a_normal_load() =>
        Assert.That(KernelCommandLine.Reuse(Proc, forCrash: false), Is.EqualTo("root=UUID=1234 ro quiet crashkernel=384M-:128M hugepages=16"));

    [Test]
    public void Reuse_for_a_crash_kernel_also_drops_crashkernel() =>
        Assert.That(KernelCommandLine.Reuse(Proc, forCrash: true), Is.EqualTo("root=UUID=1234 ro quiet hugepages=16"));

    [Test]
    public void Crash_line_drops_pools_and_quiet_and_adds_the_capture_parameters_once()
    {
        string line = KernelCommandLine.ForCrash(Proc + " nr_cpus=8 irqpoll");
        var parameters = KernelCommandLine.Split(line);

        Assert.That(parameters, Does.Not.Contain("quiet").And.Not.Contain("hugepages=16").And.Not.Contain("nr_cpus=8").And.Not.Contain("crashkernel=384M-:128M"));
        Assert.That(parameters.Where(p => p.StartsWith("BOOT_IMAGE", StringComparison.Ordinal)), Is.Empty);
        Assert.That(parameters.Count(p => p == "irqpoll"), Is.EqualTo(1));
        Assert.That(parameters, Is.SupersetOf(new[] { "root=UUID=1234", "ro", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "panic=10" }));
    }

    [Test]
    public void Crash_line_keeps_the_users_panic_setting()
    {
        var parameters = KernelCommandLine.Split(KernelCommandLine.ForCrash("console=ttyS0 panic=-1"));

        Assert.That(parameters.Where(p => p.StartsWith("panic=", StringComparison.Ordinal)), Is.EqualTo(new[] { "panic=-1" }));
    }

    [Test]
    public void Quoted_values_stay_one_parameter_and_dashes_match_underscores()
    {
        Assert.That(KernelCommandLine.Split("a dyndbg=\"file foo.c +p\" b"), Is.EqualTo(new[] { "a", "dyndbg=\"file foo.c +p\"", "b" }));
        Assert.That(KernelCommandLine.Without("log-buf-len=16M x", ["log_buf_len"]), Is.EqualTo("x"));
    }

    [Test]
    public void Parameters_go_before_init_arguments()
    {
        string line = "console=ttyS0 crashkernel=1G -- --init-flag";

        Assert.That(KernelCommandLine.Add(line, ["kds.marker=1"]), Is.EqualTo("console=ttyS0 crashkernel=1G kds.marker=1 -- --init-flag"));
        Assert.That(KernelCommandLine.Without("a -- crashkernel=1G", ["crashkernel"]), Is.EqualTo("a -- crashkernel=1G"), "init's arguments are not the kernel's");
        Assert.That(KernelCommandLine.ForCrash(line), Does.EndWith("panic=10 -- --init-flag"));
    }
}
