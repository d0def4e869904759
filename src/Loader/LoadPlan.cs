using KdumpSharp.Kexec;

namespace KdumpSharp.Loader;

/// <summary>Which syscall loads the kernel.</summary>
public enum SyscallKind
{
    /// <summary>kexec_file_load, then kexec_load when the kernel's refusal is one kexec_load can get past.</summary>
    Auto,
    File,
    Classic,
}

/// <summary>What the user asked for on the load command line.</summary>
public sealed record LoadOptions(string? Kernel, string? Initrd, bool ReuseCommandLine, string? Append, string? CommandLine, SyscallKind Syscall, bool Crash)
{
    /// <summary>Parameters the initramfs needs (the built crash initramfs's norandmaps), added before --append's.</summary>
    public string? Required { get; init; }
}

/// <summary>The kernel, initramfs and command line chosen from <see cref="LoadOptions"/> and the system, with the reasons.</summary>
public sealed record LoadPlan(KexecFileRequest Request, string KernelReason, string CommandLineReason)
{
    public static LoadPlan Make(LoadOptions options, SystemRoot root)
    {
        if (options.CommandLine is not null && options.ReuseCommandLine)
            throw new UsageException("--command-line and --reuse-cmdline both say where the command line starts; give one");

        BootEntry? found = null;
        string kernel, reason;
        if (options.Kernel is not null)
        {
            kernel = options.Kernel;
            reason = "given on the command line";
        }
        else
        {
            // A crash kernel must be the running release (the capture reads this kernel's
            // structures); a boot entry may name another, so only /boot's names are used.
            found = options.Crash
                ? new BootEntryFinder(root).FromRunningRelease(root.KernelRelease ?? "")
                  ?? throw new KexecFailureException(KexecFailureKind.NoKernelFound,
                      $"found no kernel of the running release {root.KernelRelease} in /boot", hint: "name the kernel: kds-loader crash load /path/to/vmlinuz --initrd FILE")
                : new BootEntryFinder(root).Find();
            kernel = found.Kernel;
            reason = found.Reason;
        }
        string? initrd = options.Initrd ?? found?.Initrd;

        string procLine = root.CommandLine ?? "";
        (string start, string why) = options switch
        {
            { CommandLine: { } given } => (given, "--command-line"),
            { ReuseCommandLine: true } => (KernelCommandLine.Reuse(procLine, options.Crash), "/proc/cmdline (--reuse-cmdline)"),
            _ when found?.Options is { } entryOptions => (entryOptions, "the boot entry's options"),
            _ => (KernelCommandLine.Reuse(procLine, options.Crash), "/proc/cmdline"),
        };
        if (options.Crash)
        {
            start = KernelCommandLine.ForCrash(start);
            why += " with the crash kernel's parameters";
        }
        string line = KernelCommandLine.Add(start, [options.Required, options.Append]);
        if (options.Required is not null)
            why += $" and what the initramfs needs ({options.Required})";
        if (options.Append is not null)
            why += " and --append";
        return new LoadPlan(new KexecFileRequest(kernel, initrd, line, options.Crash), reason, why);
    }

    /// <summary>What will be loaded and why, one line each, printed before the load.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"kernel: {Request.Kernel} ({KernelReason})";
        yield return $"initrd: {Request.Initrd ?? "none"}";
        yield return $"command line: {Request.CommandLine} (from {CommandLineReason})";
    }
}
