using System.Runtime.InteropServices;
using System.Text;
using KdumpSharp.Interop;
using Microsoft.Win32.SafeHandles;

namespace KdumpSharp.Kexec;

/// <summary>What to hand kexec_file_load.</summary>
/// <param name="Kernel">The bzImage.</param>
/// <param name="Initrd">The initramfs, or null for none (KEXEC_FILE_NO_INITRAMFS).</param>
/// <param name="CommandLine">The new kernel's command line, without the NUL.</param>
/// <param name="OnCrash">Arm it as the crash kernel (KEXEC_FILE_ON_CRASH) instead of for kexec reboot.</param>
public sealed record KexecFileRequest(string Kernel, string? Initrd, string CommandLine, bool OnCrash);

/// <summary>
/// kexec_file_load(2): the kernel reads the bzImage and initramfs from file descriptors, verifies
/// them if its policy asks, and builds the boot parameters, purgatory and (for a crash kernel) the
/// ELF core header itself (kernel/kexec_file.c, arch/x86/kernel/kexec-bzimage64.c). It is the only
/// load that works under lockdown or Secure Boot.
/// </summary>
public static class KexecFile
{
    /// <summary>Checks what can be checked from user space, then loads; errors come back translated.</summary>
    /// <exception cref="KexecFailureException">A check failed or the kernel refused; the message names the cause.</exception>
    /// <exception cref="FileNotFoundException">The kernel or initramfs does not exist.</exception>
    public static void Load(KexecFileRequest request, SystemRoot root)
    {
        KexecStatus status = KexecStatus.Read(root);
        Check(request, status);
        byte[] commandLine = CommandLineBytes(request.CommandLine);

        using SafeFileHandle kernel = File.OpenHandle(request.Kernel);
        using SafeFileHandle? initrd = request.Initrd is null ? null : File.OpenHandle(request.Initrd);
        var flags = KexecFileFlags.None;
        if (request.OnCrash)
            flags |= KexecFileFlags.OnCrash;
        if (initrd is null)
            flags |= KexecFileFlags.NoInitramfs;

        long result;
        unsafe
        {
            fixed (byte* text = commandLine)
            {
                result = LibC.KexecFileLoad(LibC.SysKexecFileLoad, (int)kernel.DangerousGetHandle(),
                    initrd is null ? -1 : (int)initrd.DangerousGetHandle(), (nuint)commandLine.Length, (nint)text, (nuint)flags);
            }
        }
        if (result != 0)
            throw KexecErrors.Translate(Marshal.GetLastPInvokeError(), KexecOperation.FileLoad, request, status, root);
    }

    /// <summary>Frees the loaded kernel (or the crash kernel) with KEXEC_FILE_UNLOAD; it does not matter which syscall loaded it.</summary>
    public static void Unload(bool onCrash, SystemRoot root)
    {
        var flags = KexecFileFlags.Unload | (onCrash ? KexecFileFlags.OnCrash : KexecFileFlags.None);
        long result = LibC.KexecFileLoad(LibC.SysKexecFileLoad, -1, -1, 0, 0, (nuint)flags);
        if (result != 0)
            throw KexecErrors.Translate(Marshal.GetLastPInvokeError(), KexecOperation.Unload, null, KexecStatus.Read(root), root);
    }

    /// <summary>
    /// The checks the kernel would fail with a bare errno: a file that is no bzImage (ENOEXEC), a
    /// command line over the image's limit (EINVAL), no or too small a reservation (EADDRNOTAVAIL).
    /// </summary>
    public static void Check(KexecFileRequest request, KexecStatus status)
    {
        foreach (string? file in new[] { request.Kernel, request.Initrd })
        {
            if (file is not null && !File.Exists(file))
                throw new FileNotFoundException($"{file}: no such file", file);
        }
        BzImage image;
        try
        {
            image = BzImage.Read(request.Kernel);
        }
        catch (BzImageFormatException e)
        {
            throw new KexecFailureException(KexecFailureKind.NotBzImage, e.Message,
                hint: "pass the vmlinuz from /boot, not a vmlinux ELF or a compressed copy");
        }
        int length = Encoding.UTF8.GetByteCount(request.CommandLine);
        if (length > image.MaxFileLoadCommandLine)
            throw new KexecFailureException(KexecFailureKind.CommandLineTooLong,
                $"the command line is {length} bytes; kexec_file_load takes at most {image.MaxFileLoadCommandLine} for this kernel "
                + $"(cmdline_size {image.Header.CommandLineSize} minus {BzImage.ElfCoreHeaderReserve} kept for elfcorehdr=, arch/x86/kernel/kexec-bzimage64.c)",
                hint: "drop parameters the new kernel does not need");
        if (request.OnCrash)
            CheckReservation(request, status);
    }

    private static void CheckReservation(KexecFileRequest request, KexecStatus status)
    {
        if (status.CrashSize == 0 || status.CrashSize is null && !status.IomemHidden && status.CrashRanges.Count == 0)
            throw new KexecFailureException(KexecFailureKind.NoReservation,
                "no memory is reserved for a crash kernel (kexec_crash_size is 0, no \"Crash kernel\" in /proc/iomem)",
                hint: "add crashkernel=256M (or Debian's crashkernel=384M-:128M) to the kernel command line and reboot");
        ulong files = (ulong)new FileInfo(request.Kernel).Length + (request.Initrd is null ? 0 : (ulong)new FileInfo(request.Initrd).Length);
        if (status.ReservedBytes > 0 && files >= status.ReservedBytes)
            throw new KexecFailureException(KexecFailureKind.RegionTooSmall,
                $"the kernel and initramfs ({Mib(files)}) do not fit the {Mib(status.ReservedBytes)} crashkernel reservation",
                hint: "raise crashkernel= on the kernel command line or use a smaller initramfs");
    }

    /// <summary>cmdline_len counts the NUL and the kernel checks the last byte is one; an empty command line is "\0", as kexec-tools passes.</summary>
    internal static byte[] CommandLineBytes(string commandLine)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(commandLine) + 1];
        Encoding.UTF8.GetBytes(commandLine, bytes);
        return bytes;
    }

    internal static string Mib(ulong bytes) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):0.#} MiB");
}
