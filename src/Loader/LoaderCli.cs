using System.CommandLine;
using KdumpSharp.CrashEnvironment;
using KdumpSharp.Initramfs;
using KdumpSharp.Kexec;

namespace KdumpSharp.Loader;

/// <summary>The kds-loader command line: parses arguments, calls Core's kexec code, prints.</summary>
public static class LoaderCli
{
    /// <param name="root">The system to inspect and act on; a temporary tree in tests.</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, SystemRoot? root = null)
    {
        root ??= SystemRoot.Live;
        var rootCommand = new RootCommand("kds-loader: load a kernel for a fast kexec reboot, or arm a crash kernel for kdump")
        {
            LoadCommand("load", "load a kernel to boot with 'kds-loader exec' (kexec_file_load by default)", crash: false, root, output),
            ExecCommand(root, output),
            UnloadCommand("unload", "unload the kernel loaded for exec", crash: false, root, output),
            StatusCommand("status", root, output),
            new Command("crash", "the crash kernel: booted by the kernel itself when it panics")
            {
                LoadCommand("load", "arm a crash kernel (KEXEC_FILE_ON_CRASH) with a capture initramfs", crash: true, root, output),
                UnloadCommand("unload", "disarm the crash kernel", crash: true, root, output),
                StatusCommand("status", root, output),
                EstimateCommand(root, output),
            },
        };

        ParseResult parsed = rootCommand.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
                error.WriteLine($"kds-loader: {e.Message}");
            return ExitCodes.Usage;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ErrorRenderer.Render(e, error);
        }
    }

    private static Command LoadCommand(string name, string description, bool crash, SystemRoot root, TextWriter output)
    {
        var kernel = new Argument<string?>("KERNEL")
        {
            Description = "the bzImage (default: the running release in /boot, else the default BLS or GRUB entry)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var initrd = new Option<string?>("--initrd") { Description = "the initramfs (default: the one found with the kernel)" };
        var reuse = new Option<bool>("--reuse-cmdline") { Description = "start from /proc/cmdline (minus BOOT_IMAGE=, and crashkernel= for a crash kernel)" };
        var append = new Option<string?>("--append") { Description = "parameters added at the end of the command line" };
        var commandLine = new Option<string?>("--command-line") { Description = "the command line to start from, instead of the boot entry's or /proc/cmdline" };
        var syscall = new Option<string>("--syscall")
        {
            Description = "auto (kexec_file_load, then kexec_load where that can help), file or classic",
            DefaultValueFactory = _ => "auto",
        };
        syscall.AcceptOnlyFromAmong("auto", "file", "classic");
        // Test hook, documented in docs/kexec.md: proves in a VM that the purgatory refuses an image whose checksum does not match.
        var corrupt = new Option<int?>("--debug-corrupt-segment") { Hidden = true };
        var command = new Command(name, description) { kernel, initrd, reuse, append, commandLine, syscall, corrupt };
        var captureDirectory = new Option<string?>("--capture-dir")
        {
            Description = $"the published kds-capture for the built crash initramfs (default: beside kds-loader, else {CrashInitramfsSources.PackagedCaptureDirectory})",
        };
        if (crash)
        {
            initrd.Description = $"the capture initramfs (default: built from {CaptureConfiguration.DefaultPath} and cached in {CrashInitramfsCache.DefaultDirectory})";
            command.Options.Add(captureDirectory);
        }
        command.SetAction(parse =>
        {
            var options = new LoadOptions(parse.GetValue(kernel), parse.GetValue(initrd), parse.GetValue(reuse),
                parse.GetValue(append), parse.GetValue(commandLine), ParseSyscall(parse.GetValue(syscall)!), crash);
            if (crash && options.Initrd is null)
                options = CrashInitramfsStep.Prepare(options, parse.GetValue(captureDirectory), root, output);
            LoadPlan plan = LoadPlan.Make(options, root);
            foreach (string line in plan.Describe())
                output.WriteLine(line);
            SyscallKind used = Loading.Load(plan, options.Syscall, root, output, parse.GetValue(corrupt));
            output.WriteLine(crash
                ? $"crash kernel armed with {Loading.Name(used)}"
                : $"loaded with {Loading.Name(used)}; boot it with 'kds-loader exec'");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ExecCommand(SystemRoot root, TextWriter output)
    {
        var force = new Option<bool>("--force") { Description = "sync and reboot into the loaded kernel at once, without stopping services" };
        var command = new Command("exec", "reboot into the loaded kernel: 'systemctl kexec' under systemd, --force for at once") { force };
        command.SetAction(parse =>
        {
            if (parse.GetValue(force))
            {
                KexecReboot.EnsureLoaded(root);
                output.WriteLine("kds-loader: syncing and rebooting into the loaded kernel now");
                output.Flush();
                KexecReboot.Now(root);
            }
            else if (KexecReboot.SystemdIsRunning(root))
            {
                KexecReboot.ThroughSystemd(root);
                output.WriteLine("systemd is shutting down and will kexec into the loaded kernel");
            }
            else
            {
                KexecReboot.EnsureLoaded(root);
                throw new UsageException("systemd is not running, so nothing can stop services cleanly first; stop them yourself and use 'kds-loader exec --force'");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command UnloadCommand(string name, string description, bool crash, SystemRoot root, TextWriter output)
    {
        var command = new Command(name, description);
        command.SetAction(_ =>
        {
            Loading.Unload(crash, root);
            output.WriteLine(crash ? "crash kernel unloaded" : "kernel unloaded");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command StatusCommand(string name, SystemRoot root, TextWriter output)
    {
        var json = new Option<bool>("--json") { Description = "print the state as one JSON object" };
        var command = new Command(name, "what is loaded, the crashkernel reservation, lockdown and Secure Boot; exit 0 if a crash kernel is armed, 3 if not") { json };
        command.SetAction(parse =>
        {
            KexecStatus status = KexecStatus.Read(root);
            if (parse.GetValue(json))
                output.WriteLine(StatusReport.Json(status));
            else
            {
                foreach (string line in StatusReport.Text(status))
                    output.WriteLine(line);
            }
            return status.CrashLoaded == true ? ExitCodes.Success : ExitCodes.NotArmed;
        });
        return command;
    }

    private static Command EstimateCommand(SystemRoot root, TextWriter output)
    {
        var kernel = new Argument<string?>("KERNEL")
        {
            Description = "the crash kernel's bzImage (default: the running release in /boot)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var initrd = new Option<string?>("--initrd") { Description = "the capture initramfs (default: a 9 MB one, the size the runtime was measured with)" };
        var command = new Command("estimate", "the crashkernel= this machine needs for a crash kernel with our capture environment; exit 0 if the reservation suffices, 3 if not")
        {
            kernel, initrd,
        };
        command.SetAction(parse =>
        {
            string release = root.KernelRelease ?? "";
            string path = parse.GetValue(kernel)
                ?? new BootEntryFinder(root).FromRunningRelease(release)?.Kernel
                ?? throw new KexecFailureException(KexecFailureKind.NoKernelFound,
                    $"found no kernel of the running release {release} in /boot", hint: "name the kernel: kds-loader crash estimate /path/to/vmlinuz");
            string? initrdPath = parse.GetValue(initrd);
            if (initrdPath is not null && !File.Exists(initrdPath))
                throw new FileNotFoundException($"{initrdPath}: no such file", initrdPath);
            long initrdBytes = initrdPath is null ? CrashReservationEstimate.MeasuredInitrdBytes : new FileInfo(initrdPath).Length;
            BzImage image = BzImage.Read(path);
            KexecStatus status = KexecStatus.Read(root);
            CrashMachine machine = CrashReservationEstimate.ReadMachine(root);
            CrashReservation estimate = CrashReservationEstimate.Estimate(image, initrdBytes, release, machine, status.CrashSize);
            foreach (string line in StatusReport.Estimate(estimate, path, initrdPath, initrdBytes, machine))
                output.WriteLine(line);
            return estimate.Suffices ? ExitCodes.Success : ExitCodes.NotArmed;
        });
        return command;
    }

    private static SyscallKind ParseSyscall(string value) => value switch
    {
        "file" => SyscallKind.File,
        "classic" => SyscallKind.Classic,
        _ => SyscallKind.Auto,
    };
}
