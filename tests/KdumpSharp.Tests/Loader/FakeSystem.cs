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

    /// <summary>A file that passes the "HdrS" probe: protocol 2.15, cmdline_size 2047, like Debian's kernels.</summary>
    public string WriteBzImage(string absolute, int length = 8192)
    {
        byte[] image = new byte[length];
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        image[0x206] = 0x0f;
        image[0x207] = 0x02;
        BitConverter.TryWriteBytes(image.AsSpan(0x238), 2047u);
        return Write(absolute, image);
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
