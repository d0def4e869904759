using System.Text;
using KdumpSharp.Kexec;

namespace KdumpSharp.Tests.Loader;

/// <summary>A temporary directory laid out like / (boot, proc, sys, efi, run) for the loader's readers.</summary>
internal sealed class FakeSystem : IDisposable
{
    public FakeSystem(string release = "6.1.0-56-amd64")
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("kds-loader-").FullName;
        Root = new SystemRoot(Directory);
        Write("/proc/sys/kernel/osrelease", release + "\n");
        Write("/proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=1234 ro quiet crashkernel=384M-:128M\n");
    }

    public string Directory { get; }

    public SystemRoot Root { get; }

    public string PathOf(string absolute) => Root.Resolve(absolute);

    public string Write(string absolute, string text) => Write(absolute, Encoding.UTF8.GetBytes(text));

    public string Write(string absolute, byte[] bytes)
    {
        string path = PathOf(absolute);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A bzImage header as <see cref="BzImageBytes"/> writes it, at <paramref name="absolute"/>.</summary>
    public string WriteBzImage(string absolute, int length = 8192) => Write(absolute, BzImageBytes(length));

    /// <summary>
    /// The smallest file <see cref="BzImage.Parse"/> accepts, with Debian's header values (boot
    /// protocol 2.15, cmdline_size 2047, 2 MiB alignment, pref_address 16 MiB): one setup sector,
    /// then the protected-mode "kernel".
    /// </summary>
    public static byte[] BzImageBytes(int length = 8192, uint initSize = 0x2000000)
    {
        byte[] image = new byte[length];
        image[SetupHeader.SetupSectsOffset] = 1;
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.BootFlagOffset), SetupHeader.BootFlagMagic);
        image[SetupHeader.JumpOffset] = 0xEB;
        image[SetupHeader.JumpOffset + 1] = 0x6A; // header ends at 0x26C, as in Debian's images
        "HdrS"u8.CopyTo(image.AsSpan(SetupHeader.MagicOffset));
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.VersionOffset), (ushort)0x020f);
        image[SetupHeader.LoadFlagsOffset] = SetupHeader.LoadedHigh;
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.KernelAlignmentOffset), 0x200000u);
        image[SetupHeader.RelocatableOffset] = 1;
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.XLoadFlagsOffset), (ushort)(XLoadFlags.Kernel64 | XLoadFlags.CanBeLoadedAbove4G));
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.CmdlineSizeOffset), 2047u);
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.PrefAddressOffset), 0x1000000UL);
        BitConverter.TryWriteBytes(image.AsSpan(SetupHeader.InitSizeOffset), initSize);
        return image;
    }

    /// <summary>The sysfs files of a kernel with a crashkernel= reservation of <paramref name="crashSize"/> bytes.</summary>
    public void WriteKexecState(bool loaded, bool crashLoaded, ulong crashSize, string lockdown = "[none] integrity confidentiality")
    {
        Write("/sys/kernel/kexec_loaded", loaded ? "1\n" : "0\n");
        Write("/sys/kernel/kexec_crash_loaded", crashLoaded ? "1\n" : "0\n");
        Write("/sys/kernel/kexec_crash_size", $"{crashSize}\n");
        Write("/sys/kernel/security/lockdown", lockdown + "\n");
        Write("/proc/sys/kernel/kexec_load_disabled", "0\n");
        string crash = crashSize == 0 ? "" : $"  {0x9000000:x8}-{0x9000000 + crashSize - 1:x8} : Crash kernel\n";
        Write("/proc/iomem", $"00000000-00000fff : Reserved\n00100000-13fdffff : System RAM\n  01000000-01e00fff : Kernel code\n{crash}");
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
