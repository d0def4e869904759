using System.Diagnostics;
using System.Formats.Tar;
using KdumpSharp.Kexec;
namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// The debuginfo vmlinux of a test kernel, from Debian's linux-image-&lt;release&gt;-dbg package,
/// cached as &lt;test cache&gt;/debuginfo/&lt;release&gt;/vmlinux-&lt;release&gt; (only that file is kept;
/// the package is ~1 GB). It is an oracle: symbols for crash and drgn, nm for our kallsyms. The
/// tests that need it fetch it on first use, as the kernels are fetched, and the bench shares it.
/// </summary>
public static class DebugInfo
{
    /// <summary>Where the debuginfo files of <paramref name="release"/> are kept.</summary>
    public static string Directory(string release) => Path.Combine(TestKernel.CacheRoot, "debuginfo", release);

    /// <summary>The debuginfo vmlinux of <paramref name="release"/>, fetched with apt-get download on first use.</summary>
    /// <exception cref="IOException">apt-get or dpkg-deb failed, or the package has no such vmlinux.</exception>
    public static string Vmlinux(string release, Action<string> progress)
    {
        string target = Path.Combine(Directory(release), $"vmlinux-{release}");
        if (File.Exists(target))
            return target;

        string package = $"linux-image-{release}-dbg";
        string work = Path.Combine(Directory(release), $"download.tmp-{Environment.ProcessId}");
        System.IO.Directory.CreateDirectory(work);
        try
        {
            progress($"fetching {package} with apt-get download (about 1 GB) to extract its vmlinux into {target}");
            var (exit, output) = Run("apt-get", ["download", "-q", package], work);
            string? deb = System.IO.Directory.GetFiles(work, "*.deb").SingleOrDefault();
            if (exit != 0 || deb is null)
                throw new IOException($"apt-get download {package} failed (exit {exit}): {output.Trim()}");

            progress($"extracting ./usr/lib/debug/boot/vmlinux-{release} from {Path.GetFileName(deb)} (xz: a minute or two)");
            ExtractMember(deb, $"./usr/lib/debug/boot/vmlinux-{release}", target);
            return target;
        }
        finally
        {
            System.IO.Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Streams the package's data tar from dpkg-deb and copies one member out.</summary>
    private static void ExtractMember(string deb, string member, string target)
    {
        var start = new ProcessStartInfo("dpkg-deb") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--fsys-tarfile");
        start.ArgumentList.Add(deb);
        using Process process = Process.Start(start) ?? throw new IOException("cannot start dpkg-deb");
        Task<string> errors = process.StandardError.ReadToEndAsync();
        string temporary = target + ".tmp";
        bool found = false;
        try
        {
            using var tar = new TarReader(process.StandardOutput.BaseStream);
            while (tar.GetNextEntry() is TarEntry entry)
            {
                if (entry.Name != member || entry.DataStream is null)
                    continue;
                using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write))
                    entry.DataStream.CopyTo(output);
                File.Move(temporary, target, overwrite: true);
                found = true;
                break;
            }
        }
        finally
        {
            // The member is near the start; the rest of the archive is not needed.
            if (!process.HasExited)
                process.Kill();
            process.WaitForExit();
            File.Delete(temporary);
        }
        if (!found)
            throw new IOException($"{deb} has no {member} (dpkg-deb: {errors.Result.Trim()})");
    }

    private static (int Exit, string Output) Run(string file, string[] arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new IOException($"cannot start {file}");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stderr.Result + stdout.Result);
    }
}
