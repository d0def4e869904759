using KdumpSharp.Kexec;

namespace KdumpSharp.Loader;

/// <summary>Runs a <see cref="LoadPlan"/> through the syscall asked for, falling back as --syscall auto allows.</summary>
public static class Loading
{
    public static SyscallKind Load(LoadPlan plan, SyscallKind syscall, SystemRoot root, TextWriter output)
    {
        switch (syscall)
        {
            case SyscallKind.File:
                KexecFile.Load(plan.Request, root);
                return SyscallKind.File;
            case SyscallKind.Classic:
                ClassicKexecLoad(plan.Request);
                return SyscallKind.Classic;
        }
        try
        {
            KexecFile.Load(plan.Request, root);
            return SyscallKind.File;
        }
        // Our own length check mirrors the file path's extra 30-byte reserve; kexec_load takes
        // the whole cmdline_size, so it can load what the file path refused.
        catch (KexecFailureException e) when (e.Kind == KexecFailureKind.CommandLineTooLong || e.Errno != 0 && KexecErrors.ClassicCouldLoad(e.Errno))
        {
            KexecStatus status = KexecStatus.Read(root);
            if (status.ClassicLoadForbidden)
                throw new KexecFailureException(e.Kind,
                    $"{e.Message}; the classic kexec_load cannot help: {ClosedBecause(status)} closes it", e.Errno, e.Hint);
            output.WriteLine($"kexec_file_load could not load it ({e.Message}); trying the classic kexec_load");
            ClassicKexecLoad(plan.Request);
            return SyscallKind.Classic;
        }
    }

    /// <summary>
    /// The classic kexec_load path (user space lays out the bzImage, boot parameters, purgatory
    /// and, for a crash kernel, the ELF core header). Not in this build: it arrives with the
    /// classic image builder.
    /// </summary>
    public static void ClassicKexecLoad(KexecFileRequest request) =>
        throw new KexecFailureException(KexecFailureKind.Unsupported,
            $"the classic kexec_load path is not in this build, so {request.Kernel} can be loaded only with kexec_file_load");

    public static string Name(SyscallKind kind) => kind == SyscallKind.Classic ? "kexec_load" : "kexec_file_load";

    private static string ClosedBecause(KexecStatus status) =>
        status.Lockdown is { } mode && mode != "none" ? $"lockdown ({mode})" : "Secure Boot";
}
