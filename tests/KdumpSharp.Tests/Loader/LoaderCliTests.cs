using System.Text.Json;
using KdumpSharp.Loader;

namespace KdumpSharp.Tests.Loader;

/// <summary>
/// kds-loader run in process over a fake system tree. Every load here fails in the checks made
/// before the syscall, so no test touches the host's kexec state.
/// </summary>
public class LoaderCliTests
{
    private static (int Code, string Out, string Err) Run(FakeSystem system, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = LoaderCli.Run(args, output, error, system.Root);
        return (code, output.ToString(), error.ToString());
    }

    private static void AssertOneErrorLine(string error, int code, int expected, string contains)
    {
        Assert.That(code, Is.EqualTo(expected), error);
        Assert.That(error.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1), "one line on stderr");
        Assert.That(error, Does.StartWith("kds-loader: ").And.Contain(contains));
    }

    [Test]
    public void Status_exits_3_without_a_crash_kernel_and_0_with_one()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 112 << 20);

        var (notArmed, text, _) = Run(system, "status");
        Assert.That(notArmed, Is.EqualTo(ExitCodes.NotArmed));
        Assert.That(text, Does.Contain("crash kernel:   not armed").And.Contain("112 MiB (kexec_crash_size 117440512); 0x9000000-0xfffffff").And.Contain("lockdown:       none"));

        system.WriteKexecState(loaded: true, crashLoaded: true, crashSize: 112 << 20);
        var (armed, _, _) = Run(system, "crash", "status");
        Assert.That(armed, Is.EqualTo(ExitCodes.Success));
    }

    [Test]
    public void Status_json_is_one_object_with_the_state()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: true, crashSize: 64 << 20, lockdown: "none integrity [confidentiality]");

        var (code, json, _) = Run(system, "status", "--json");

        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        using var document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        Assert.That(root.GetProperty("crashLoaded").GetBoolean(), Is.True);
        Assert.That(root.GetProperty("loaded").GetBoolean(), Is.False);
        Assert.That(root.GetProperty("crashSize").GetUInt64(), Is.EqualTo(64UL << 20));
        Assert.That(root.GetProperty("crashRanges")[0].GetProperty("start").GetString(), Is.EqualTo("0x9000000"));
        Assert.That(root.GetProperty("lockdown").GetString(), Is.EqualTo("confidentiality"));
        Assert.That(root.GetProperty("classicLoadForbidden").GetBoolean(), Is.True);
    }

    [Test]
    public void Exec_with_nothing_loaded_refuses()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);

        var (code, output, error) = Run(system, "exec", "--force");

        AssertOneErrorLine(error, code, ExitCodes.NothingLoaded, "no kernel is loaded");
        Assert.That(output, Is.Empty, "a refused exec must not announce a reboot");
    }

    [Test]
    public void Exec_without_systemd_or_force_asks_for_force()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: true, crashLoaded: false, crashSize: 0);

        var (code, _, error) = Run(system, "exec");

        AssertOneErrorLine(error, code, ExitCodes.Usage, "--force");
    }

    [Test]
    public void Crash_load_needs_a_reservation()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, output, error) = Run(system, "crash", "load", kernel, "--initrd", kernel);

        AssertOneErrorLine(error, code, ExitCodes.NoReservation, "no memory is reserved for a crash kernel");
        Assert.That(output, Does.Contain("command line: root=UUID=1234 ro ").And.Contain("nr_cpus=1").And.Not.Contain("crashkernel="));
    }

    [Test]
    public void Crash_load_larger_than_the_reservation_is_refused()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 8192);
        string kernel = system.WriteBzImage("/k/vmlinuz", 16384);

        var (code, _, error) = Run(system, "crash", "load", kernel, "--initrd", kernel);

        AssertOneErrorLine(error, code, ExitCodes.RegionTooSmall, "do not fit the 0 MiB crashkernel reservation");
    }

    [Test]
    public void Crash_load_without_initrd_builds_from_capture_conf_and_names_it_when_missing()
    {
        using var system = new FakeSystem();

        system.Write("/opt/kds/kds-capture", "stands in for the published program");

        var (code, _, error) = Run(system, "crash", "load", "/nonexistent", "--capture-dir", system.PathOf("/opt/kds"));

        AssertOneErrorLine(error, code, ExitCodes.CrashInitramfs, "/etc/kdumpsharp/capture.conf: no such file");
    }

    [Test]
    public void A_file_that_is_not_a_bzimage_is_named()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string elf = system.Write("/k/vmlinux", "\u007fELF" + new string('\0', 1000));

        var (code, _, error) = Run(system, "load", elf, "--syscall", "file");

        AssertOneErrorLine(error, code, ExitCodes.NotBzImage, $"{elf}: an ELF file (a vmlinux?), not a bzImage");
    }

    [Test]
    public void A_missing_kernel_file_is_named()
    {
        using var system = new FakeSystem();

        var (code, _, error) = Run(system, "load", "/nonexistent/vmlinuz");

        AssertOneErrorLine(error, code, ExitCodes.CannotOpen, "/nonexistent/vmlinuz: no such file");
    }

    [Test]
    public void No_kernel_found_says_what_was_looked_for()
    {
        using var system = new FakeSystem();

        var (code, _, error) = Run(system, "load");

        AssertOneErrorLine(error, code, ExitCodes.CannotOpen, "found no kernel to load");
    }

    [Test]
    public void A_command_line_too_long_for_kexec_file_load_is_refused_with_the_limit()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, _, error) = Run(system, "load", kernel, "--syscall", "file", "--command-line", new string('x', 2017));

        AssertOneErrorLine(error, code, ExitCodes.CommandLineTooLong, "2017 bytes; kexec_file_load takes at most 2016");
    }

    [Test]
    public void Auto_tries_the_classic_path_for_a_line_only_it_can_take()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, output, error) = Run(system, "load", kernel, "--command-line", new string('x', 2017));

        // The classic path lays the image out from the fake system's iomem, then stops: an image
        // laid out from another root's memory map is never handed to this machine's kernel.
        Assert.That(output, Does.Contain("trying the classic kexec_load"));
        AssertOneErrorLine(error, code, ExitCodes.Unsupported, "was laid out from");
    }

    [Test]
    public void Auto_under_lockdown_says_the_classic_path_is_closed()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0, lockdown: "none [integrity] confidentiality");
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, _, error) = Run(system, "load", kernel, "--command-line", new string('x', 2017));

        AssertOneErrorLine(error, code, ExitCodes.CommandLineTooLong, "the classic kexec_load cannot help: lockdown (integrity) closes it");
    }

    [Test]
    public void Classic_lays_out_the_image_and_loads_it_only_on_this_machine()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, _, error) = Run(system, "load", kernel, "--syscall", "classic", "--command-line", new string('x', 2047));

        AssertOneErrorLine(error, code, ExitCodes.Unsupported, $"the kexec_load image of {kernel} was laid out from {system.Directory}, not from this machine");
    }

    [Test]
    public void Classic_refuses_a_line_longer_than_cmdline_size()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, _, error) = Run(system, "load", kernel, "--syscall", "classic", "--command-line", new string('x', 2048));

        Assert.That(code, Is.Not.EqualTo(ExitCodes.Success));
        Assert.That(error.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1), error);
        Assert.That(error, Does.Contain("2048"));
    }

    [Test]
    public void Classic_refuses_a_file_that_is_no_bzimage()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.Write("/k/vmlinux", "\u007fELF" + new string('\0', 1000));

        var (code, _, error) = Run(system, "load", kernel, "--syscall", "classic");

        AssertOneErrorLine(error, code, ExitCodes.NotBzImage, "an ELF file (a vmlinux?)");
    }

    [Test]
    public void Classic_crash_load_without_a_reservation_says_so()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, output, error) = Run(system, "crash", "load", kernel, "--initrd", kernel, "--syscall", "classic");

        AssertOneErrorLine(error, code, ExitCodes.NoReservation, "no memory is reserved for a crash kernel");
        Assert.That(output, Does.Contain(" norandmaps"), "the crash initramfs needs norandmaps on every crash line");
    }

    [Test]
    public void The_corrupt_segment_hook_needs_the_classic_path_and_is_hidden()
    {
        using var system = new FakeSystem();
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/k/vmlinuz");

        var (code, _, error) = Run(system, "load", kernel, "--debug-corrupt-segment", "0");
        AssertOneErrorLine(error, code, ExitCodes.Usage, "--debug-corrupt-segment tests our purgatory, so it needs --syscall classic");

        var (_, help, _) = Run(system, "load", "--help");
        Assert.That(help, Does.Contain("--syscall").And.Not.Contain("debug-corrupt"));
    }

    [Test]
    public void Autodetected_kernel_and_command_line_are_printed_with_reasons()
    {
        using var system = new FakeSystem("6.1.0-56-amd64");
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        system.Write("/boot/vmlinuz-6.1.0-56-amd64", "not a bzimage");
        system.Write("/boot/initrd.img-6.1.0-56-amd64", "i");

        var (code, output, error) = Run(system, "load", "--reuse-cmdline", "--append", "kds.x=1");

        Assert.That(code, Is.EqualTo(ExitCodes.NotBzImage), error);
        Assert.That(output, Does.Contain("/boot/vmlinuz-6.1.0-56-amd64 is the running kernel's release"));
        Assert.That(output, Does.Contain("initrd: " + system.PathOf("/boot/initrd.img-6.1.0-56-amd64")));
        Assert.That(output, Does.Contain("command line: root=UUID=1234 ro quiet crashkernel=384M-:128M kds.x=1 (from /proc/cmdline (--reuse-cmdline) and --append)"));
    }

    [Test]
    public void Crash_load_without_a_kernel_takes_the_running_release_only()
    {
        using var system = new FakeSystem("6.1.0-56-amd64");
        system.WriteKexecState(loaded: false, crashLoaded: false, crashSize: 0);
        string kernel = system.WriteBzImage("/boot/vmlinuz-6.1.0-56-amd64");
        string capture = system.Write("/var/lib/kds/capture.img", "i");

        var (code, output, error) = Run(system, "crash", "load", "--initrd", capture);

        AssertOneErrorLine(error, code, ExitCodes.NoReservation, "no memory is reserved");
        Assert.That(output, Does.Contain($"kernel: {kernel} (/boot/vmlinuz-6.1.0-56-amd64 is the running kernel's release"));
        Assert.That(output, Does.Contain($"initrd: {capture}"));

        system.Write("/boot/loader/entries/other.conf", "linux /vmlinuz-other\n");
        File.Delete(kernel);
        var (missing, _, missingError) = Run(system, "crash", "load", "--initrd", capture);
        AssertOneErrorLine(missingError, missing, ExitCodes.CannotOpen, "no kernel of the running release 6.1.0-56-amd64");
    }

    [Test]
    public void Command_line_and_reuse_together_are_a_usage_error()
    {
        using var system = new FakeSystem();

        var (code, _, error) = Run(system, "load", "/k", "--reuse-cmdline", "--command-line", "x");

        AssertOneErrorLine(error, code, ExitCodes.Usage, "give one");
    }

    [Test]
    public void Unknown_syscall_is_a_usage_error()
    {
        using var system = new FakeSystem();

        var (code, _, error) = Run(system, "load", "--syscall", "magic");

        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.StartWith("kds-loader: "));
    }
}
