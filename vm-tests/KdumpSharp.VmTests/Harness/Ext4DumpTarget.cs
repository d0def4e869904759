using System.Text.RegularExpressions;

namespace KdumpSharp.VmTests.Harness;

/// <summary>A host tool the harness needs failed, or a library it copies into a guest is missing; the message is one line.</summary>
public sealed class GuestSetupException(string message) : Exception(message);

/// <summary>
/// An ext4 disk image as kds-capture's dump target (capture.conf names it by UUID), read back on
/// the host without mounting anything: debugfs lists, stats and copies out of the image.
/// </summary>
public sealed partial class Ext4DumpTarget
{
    private Ext4DumpTarget(string image, Guid uuid)
    {
        Image = image;
        Uuid = uuid;
    }

    /// <summary>The disk image file.</summary>
    public string Image { get; }

    /// <summary>The file system's UUID, for capture.conf's <c>target = UUID=…</c>.</summary>
    public Guid Uuid { get; }

    private string WorkingDirectory => Path.GetDirectoryName(Path.GetFullPath(Image))!;

    /// <summary>A new sparse image of <paramref name="mebibytes"/> MiB holding an empty ext4 file system with <paramref name="uuid"/>.</summary>
    /// <exception cref="GuestSetupException">mkfs.ext4 failed.</exception>
    public static Ext4DumpTarget Create(string image, int mebibytes, Guid uuid, string label)
    {
        using (var disk = new FileStream(image, FileMode.CreateNew, FileAccess.Write))
            disk.SetLength((long)mebibytes << 20);
        var target = new Ext4DumpTarget(image, uuid);
        target.Tool("mkfs.ext4", "-q", "-F", "-U", uuid.ToString(), "-L", label, image);
        return target;
    }

    /// <summary>The names of the dump directories kds-capture made in <paramref name="directory"/> (host-date-time).</summary>
    public IReadOnlyList<string> DumpDirectories(string directory = "/var/crash") =>
        [.. DumpDirectoryName().Matches(Tool("debugfs", "-R", $"ls -l {directory}", Image)).Select(m => m.Groups[1].Value)];

    /// <summary>Copies <paramref name="path"/> (a directory on the image) into <paramref name="destination"/> and returns the copy's path.</summary>
    public string Extract(string path, string destination)
    {
        Directory.CreateDirectory(destination);
        Tool("debugfs", "-R", $"rdump {path} {destination}", Image);
        return Path.Combine(destination, Path.GetFileName(path));
    }

    /// <summary>The permission bits of <paramref name="path"/> on the image, as debugfs stat prints them ("0700").</summary>
    public string Mode(string path)
    {
        string stat = Tool("debugfs", "-R", $"stat {path}", Image);
        return ModeLine().Match(stat) is { Success: true } m
            ? m.Groups[1].Value
            : throw new GuestSetupException($"debugfs stat {path} printed no Mode: {stat.ReplaceLineEndings(" ")}");
    }

    private string Tool(string file, params string[] arguments)
    {
        HostProcess.Result result = HostProcess.Run(file, arguments, WorkingDirectory, TimeSpan.FromMinutes(5));
        if (result.ExitCode != 0)
            throw new GuestSetupException($"{file} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Output.ReplaceLineEndings(" ")}");
        return result.Output;
    }

    /// <summary>kds-capture's dump directory name, host-YYYY-MM-DD-HH:MM:SS, at the end of a debugfs ls -l line.</summary>
    [GeneratedRegex(@"\s([A-Za-z0-9._-]+-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d)\s*$", RegexOptions.Multiline)]
    private static partial Regex DumpDirectoryName();

    [GeneratedRegex(@"Mode:\s+([0-7]{4})")]
    private static partial Regex ModeLine();
}
