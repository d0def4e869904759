using KdumpSharp.Kexec;

namespace KdumpSharp.Loader;

/// <summary>Runs a <see cref="LoadPlan"/> through the syscall asked for, falling back as --syscall auto allows.</summary>
public static class Loading
{
    /// <param name="wrongChecksumFor">Test hook (--debug-corrupt-segment): the classic path's purgatory gets a wrong checksum for this segment.</param>
    public static SyscallKind Load(LoadPlan plan, SyscallKind syscall, SystemRoot root, TextWriter output, int? wrongChecksumFor = null)
    {
        if (wrongChecksumFor is not null && syscall != SyscallKind.Classic)
            throw new UsageException("--debug-corrupt-segment tests our purgatory, so it needs --syscall classic");
        switch (syscall)
        {
            case SyscallKind.File:
                KexecFile.Load(plan.Request, root);
                return SyscallKind.File;
            case SyscallKind.Classic:
                ClassicLoad(plan.Request, root, output, wrongChecksumFor);
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
            ClassicLoad(plan.Request, root, output, null);
            return SyscallKind.Classic;
        }
    }

    /// <summary>
    /// The classic kexec_load path: user space lays out the bzImage, boot parameters, purgatory
    /// and, for a crash kernel, the ELF core header, which adds elfcorehdr= to the line.
    /// </summary>
    private static void ClassicLoad(KexecFileRequest request, SystemRoot root, TextWriter output, int? wrongChecksumFor)
    {
        string line = ClassicKexec.Load(request, root, wrongChecksumFor);
        if (line != request.CommandLine)
            output.WriteLine($"command line passed: {line}");
    }

    /// <summary>
    /// Frees the loaded (or crash) image. kexec_file_load's UNLOAD empties the same slot
    /// kexec_load fills (kernel/kexec_file.c swaps NULL into kexec_image or kexec_crash_image,
    /// whatever loaded it), so it serves both; kexec_load with no segments is the way on a kernel
    /// without kexec_file_load.
    /// </summary>
    public static void Unload(bool crash, SystemRoot root)
    {
        try
        {
            KexecFile.Unload(crash, root);
        }
        catch (KexecFailureException e) when (e.Kind == KexecFailureKind.Unsupported)
        {
            KexecLoad.Unload(crash, root.Directory);
        }
    }

    public static string Name(SyscallKind kind) => kind == SyscallKind.Classic ? "kexec_load" : "kexec_file_load";

    private static string ClosedBecause(KexecStatus status) =>
        status.Lockdown is { } mode && mode != "none" ? $"lockdown ({mode})" : "Secure Boot";
}
