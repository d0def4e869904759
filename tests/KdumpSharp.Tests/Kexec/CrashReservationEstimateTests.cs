using KdumpSharp.Kexec;
using KdumpSharp.Loader;
using KdumpSharp.Tests.Loader;

namespace KdumpSharp.Tests.Kexec;

public class CrashReservationEstimateTests
{
    private static readonly CrashMachine Measured = new(Cpus: 2, RamRanges: 2, TotalRam: 512UL << 20);

    private static BzImage Kernel(string package = "linux-image-6.1.0-56-amd64") => BzImage.Read(KexecTestKernels.Path(package));

    [TestCase("linux-image-6.1.0-56-amd64", "6.1.0-56-amd64", 136)]
    [TestCase("linux-image-6.12.117+deb12-amd64-unsigned", "6.12.117+deb12-amd64", 120)]
    public void The_measured_set_up_needs_exactly_the_measured_minimum(string package, string release, int minimumMiB)
    {
        CrashReservation e = CrashReservationEstimate.Estimate(Kernel(package), CrashReservationEstimate.MeasuredInitrdBytes, release, Measured, reserved: null);

        Assert.That(e.Needed, Is.EqualTo((ulong)minimumMiB << 20));
        Assert.That(e.Load, Is.GreaterThan(Kernel(package).KernelMemorySize + 11_600_000UL), "the load holds at least init_size and the initrd");
        Assert.That(e.SuggestedParameter, Is.EqualTo($"crashkernel={minimumMiB}M"));
    }

    [Test]
    public void A_larger_initrd_adds_to_the_load_and_more_ram_to_the_load_and_the_copy_table()
    {
        BzImage kernel = Kernel();
        CrashReservation measured = CrashReservationEstimate.Estimate(kernel, CrashReservationEstimate.MeasuredInitrdBytes, "6.1.0-56-amd64", Measured, null);
        CrashReservation bigger = CrashReservationEstimate.Estimate(kernel, CrashReservationEstimate.MeasuredInitrdBytes + (20 << 20), "6.1.0-56-amd64",
            new CrashMachine(8, 3, 64UL << 30), null);

        // kds-capture's table of stored pages: 16 MiB (its cap) for 64 GiB against 1 MiB for the measured 512 MiB.
        Assert.That(bigger.Runtime - measured.Runtime, Is.EqualTo((16UL << 20) - (1UL << 20)));
        // 20 MiB of initrd and 8 KiB of control pages per GiB of RAM; 6 more CPU notes and a RAM
        // range still fit the ELF core header's 16 KiB minimum.
        Assert.That(bigger.Load - measured.Load, Is.EqualTo((20UL << 20) + 64 * 8192));
        Assert.That(bigger.Suggested % (8UL << 20), Is.Zero);
        Assert.That(bigger.Suggested, Is.GreaterThanOrEqualTo(bigger.Needed).And.LessThan(bigger.Needed + (8UL << 20)));
    }

    [TestCase("6.1.0-56-amd64", "6.1")]
    [TestCase("6.5.0-1-amd64", "6.1")]
    [TestCase("6.12.117+deb12-amd64", "6.12")]
    [TestCase("6.16.3", "6.12")]
    [TestCase("5.10.0-30-amd64", "6.1")]
    [TestCase("garbage", "6.1")]
    public void Each_release_uses_the_nearest_earlier_measurement(string release, string series)
    {
        Assert.That(CrashReservationEstimate.Estimate(Kernel(), 0, release, Measured, null).MeasuredFor, Is.EqualTo(series));
    }

    [Test]
    public void The_machine_is_read_from_sysfs_and_iomem_else_meminfo()
    {
        using var system = new FakeSystem();
        foreach (string cpu in new[] { "cpu0", "cpu1", "cpu2", "cpufreq", "cpuidle" })
            Directory.CreateDirectory(system.PathOf($"/sys/devices/system/cpu/{cpu}"));
        system.Write("/proc/iomem", "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n00100000-13fdffff : System RAM\n  01000000-01e00fff : Kernel code\n");
        Assert.That(CrashReservationEstimate.ReadMachine(system.Root), Is.EqualTo(new CrashMachine(3, 2, 0x9EC00UL + 0x13EE0000UL)));

        system.Write("/proc/iomem", "00000000-00000000 : System RAM\n");
        system.Write("/proc/meminfo", "MemTotal:         327680 kB\nMemFree: 1 kB\n");
        Assert.That(CrashReservationEstimate.ReadMachine(system.Root).TotalRam, Is.EqualTo(320UL << 20));
    }

    [Test]
    public void Crash_estimate_exits_0_when_the_reservation_suffices_and_3_when_not()
    {
        using var system = new FakeSystem();
        string kernel = system.Write("/boot/vmlinuz-6.1.0-56-amd64", File.ReadAllBytes(KexecTestKernels.Path("linux-image-6.1.0-56-amd64")));
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 144 << 20);
        Directory.CreateDirectory(system.PathOf("/sys/devices/system/cpu/cpu0"));
        Directory.CreateDirectory(system.PathOf("/sys/devices/system/cpu/cpu1"));

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.That(LoaderCli.Run(["crash", "estimate"], output, error, system.Root), Is.EqualTo(ExitCodes.Success), error.ToString());
        Assert.That(output.ToString(), Does.Contain($"kernel:         {kernel}").And.Contain("reserved:       144 MiB")
            .And.Contain("runtime:").And.Contain("Debian 6.1").And.Contain("suggested:      crashkernel=").And.Contain("the reservation suffices"));

        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 64 << 20);
        string initrd = system.Write("/tmp/big.img", new byte[40 << 20]);
        output = new StringWriter();
        Assert.That(LoaderCli.Run(["crash", "estimate", kernel, "--initrd", initrd], output, error, system.Root), Is.EqualTo(ExitCodes.NotArmed));
        Assert.That(output.ToString(), Does.Contain("initrd:         " + initrd + " (40 MiB)").And.Contain("too small; boot with crashkernel="));
        Assert.That(error.ToString(), Is.Empty);
    }
}
