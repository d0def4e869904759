using System.Text;

namespace KdumpSharp.Kexec;

/// <summary>
/// The classic kexec_load path end to end: reads the bzImage and initramfs, lays out the image
/// from the running system (<see cref="ClassicImageBuilder"/>) and hands it to kexec_load(2).
/// </summary>
public static class ClassicKexec
{
    /// <summary>Loads <paramref name="request"/> with kexec_load; a crash kernel goes into the "Crash kernel" region with KEXEC_ON_CRASH.</summary>
    /// <param name="wrongChecksumFor">Test hook: store a wrong checksum for this segment, so the purgatory must refuse to boot.</param>
    /// <returns>The command line the new kernel gets (for a crash kernel, with elfcorehdr=).</returns>
    public static string Load(KexecFileRequest request, SystemRoot root, int? wrongChecksumFor = null)
    {
        KexecStatus status = KexecStatus.Read(root);
        if (request.OnCrash && status.CrashSize == 0)
            throw new KexecFailureException(KexecFailureKind.NoReservation,
                "no memory is reserved for a crash kernel (kexec_crash_size is 0)",
                hint: "add crashkernel=256M (or Debian's crashkernel=384M-:128M) to the kernel command line and reboot");
        BzImage kernel = BzImage.Parse(request.Kernel, ReadFile(request.Kernel));
        byte[] initrd = request.Initrd is null ? [] : ReadFile(request.Initrd);
        var system = new RunningSystem(root.Directory);

        ClassicImage image = request.OnCrash
            ? ClassicImageBuilder.BuildCrash(system, kernel, initrd, request.CommandLine, wrongChecksumFor)
            : ClassicImageBuilder.BuildNormal(system, kernel, initrd, request.CommandLine, wrongChecksumFor);

        int length = Encoding.UTF8.GetByteCount(image.CommandLine);
        if (length > kernel.MaxCommandLineLength)
            throw new KexecFailureException(KexecFailureKind.CommandLineTooLong,
                $"the command line is {length} bytes; {request.Kernel} takes at most {kernel.MaxCommandLineLength} (cmdline_size)",
                hint: "drop parameters the new kernel does not need");
        // The layout came from that root's memory map and zero page; only this machine's may go to this kernel.
        if (root != SystemRoot.Live)
            throw new KexecFailureException(KexecFailureKind.Unsupported,
                $"the kexec_load image of {request.Kernel} was laid out from {root.Directory}, not from this machine, so it is not loaded");
        KexecLoad.Load(image.Image, request.OnCrash ? KexecLoadFlags.OnCrash : KexecLoadFlags.None, root.Directory);
        return image.CommandLine;
    }

    private static byte[] ReadFile(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file", path);
        return File.ReadAllBytes(path);
    }
}
