using System.Globalization;

namespace KdumpSharp.Capture;

/// <summary>
/// Where one capture's files go: <c>&lt;root&gt;/&lt;host&gt;-&lt;YYYY-MM-DD-HH:MM:SS&gt;/</c>, the layout
/// kdumpctl uses under /var/crash, created 0700 so only root reads the dumped memory. Never
/// reuses a directory: a second capture in the same second gets a "-1", "-2" suffix.
/// </summary>
public sealed class DumpDirectory
{
    public const string DumpFileName = "vmcore.kds";
    public const string KdumpFileName = "vmcore";
    public const string DmesgFileName = "vmcore-dmesg.txt";
    public const string LogFileName = "capture.log";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private DumpDirectory(string path) => Path = path;

    public string Path { get; }

    public string FileFor(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Creates the capture directory (and the root, 0700, if missing).</summary>
    public static DumpDirectory Create(string root, string host, DateTimeOffset time)
    {
        if (!Directory.Exists(root))
            Directory.CreateDirectory(root, OwnerOnly);
        // Formatted field by field: DateTime's custom-format path was JIT-compiled at every capture.
        DateTime t = time.UtcDateTime;
        string stamp = string.Create(CultureInfo.InvariantCulture, $"{t.Year:D4}-{t.Month:D2}-{t.Day:D2}-{t.Hour:D2}:{t.Minute:D2}:{t.Second:D2}");
        string baseName = $"{Sanitize(host)}-{stamp}";
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            string candidate = System.IO.Path.Combine(root, attempt == 0 ? baseName : $"{baseName}-{attempt}");
            if (Directory.Exists(candidate) || File.Exists(candidate))
                continue;
            Directory.CreateDirectory(candidate, OwnerOnly);
            return new DumpDirectory(candidate);
        }
        throw new IOException($"cannot find a free directory name for {baseName} in {root}");
    }

    /// <summary>Host names become one path component: anything but letters, digits, '.', '_' and '-' becomes '_'.</summary>
    private static string Sanitize(string host)
    {
        var name = new char[host.Length];
        bool onlyDots = true;
        for (int i = 0; i < host.Length; i++)
        {
            char c = host[i];
            name[i] = char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_';
            onlyDots &= name[i] == '.';
        }
        return onlyDots ? "localhost" : new string(name);
    }
}
