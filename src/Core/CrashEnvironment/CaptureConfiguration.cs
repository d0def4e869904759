using System.Globalization;
using System.Text;
using KdumpSharp.Capture;
using KdumpSharp.Compression;

namespace KdumpSharp.CrashEnvironment;

/// <summary>What the crash kernel's /init does after the capture, or when any step fails.</summary>
public enum CrashAction
{
    /// <summary>reboot(2) with LINUX_REBOOT_CMD_RESTART: the machine comes back in its normal kernel.</summary>
    Reboot,

    /// <summary>reboot(2) with LINUX_REBOOT_CMD_POWER_OFF.</summary>
    PowerOff,

    /// <summary>reboot(2) with LINUX_REBOOT_CMD_HALT.</summary>
    Halt,

    /// <summary>Runs /bin/sh on the console when the image has one (a debug build), else reboots.</summary>
    Shell,
}

/// <summary>How the dump reaches its target.</summary>
public enum TargetKind
{
    /// <summary>A file system is mounted and the dump directory is created under <see cref="CaptureConfiguration.Path"/>.</summary>
    Filesystem,

    /// <summary>The kds stream is written to the block device from offset 0 (docs/format.md, "Raw block devices").</summary>
    Raw,
}

/// <summary>
/// The crash environment's configuration, /etc/kdumpsharp/capture.conf in the crash initramfs:
/// one <c>key = value</c> per line, '#' starts a comment, in the spirit of kdump.conf. The
/// initramfs builder writes it, kds-capture reads it when it runs as the crash kernel's init.
/// Keys are documented in README.md ("kds-capture as the crash kernel's init").
/// </summary>
public sealed record CaptureConfiguration
{
    /// <summary>Where the builder puts the file and where /init reads it.</summary>
    public const string DefaultPath = "/etc/kdumpsharp/capture.conf";

    /// <summary>A file larger than this is not a configuration file; the parser refuses it before reading.</summary>
    public const int MaxBytes = 64 << 10;

    /// <summary>UUID=…, LABEL=… (of an ext2/3/4 file system) or a /dev path.</summary>
    public required string Target { get; init; }

    public TargetKind Kind { get; init; } = TargetKind.Filesystem;

    /// <summary>The file system type passed to mount(2).</summary>
    public string FileSystem { get; init; } = "ext4";

    /// <summary>The dump root inside the target file system.</summary>
    public string Path { get; init; } = "/var/crash";

    public CaptureFormat Format { get; init; } = CaptureFormat.Native;

    public PageCompression Compression { get; init; } = PageCompression.Lz4;

    public int DumpLevel { get; init; } = 31;

    public CrashAction FinalAction { get; init; } = CrashAction.Reboot;

    public CrashAction FailureAction { get; init; } = CrashAction.Reboot;

    /// <summary>How long to wait for the target device to appear.</summary>
    public TimeSpan DeviceTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the whole capture may take before the failure action runs anyway; zero for no limit.</summary>
    public TimeSpan CaptureTimeout { get; init; } = TimeSpan.Zero;

    private static readonly string[] Keys =
        ["target", "target_kind", "fstype", "path", "format", "compression", "level", "final_action", "failure_action", "device_timeout", "capture_timeout"];

    /// <summary>The file's text; <see cref="Parse"/> reads it back to an equal record.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine("# kds-capture crash environment (written by the initramfs builder; see README.md)");
        Append("target", Target);
        Append("target_kind", Kind == TargetKind.Raw ? "raw" : "filesystem");
        Append("fstype", FileSystem);
        Append("path", Path);
        Append("format", Format == CaptureFormat.Kdump ? "kdump" : "kds");
        Append("compression", Compression.ToString().ToLowerInvariant());
        Append("level", DumpLevel.ToString(CultureInfo.InvariantCulture));
        Append("final_action", ActionName(FinalAction));
        Append("failure_action", ActionName(FailureAction));
        Append("device_timeout", ((int)DeviceTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture));
        Append("capture_timeout", ((int)CaptureTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture));
        return text.ToString();

        void Append(string key, string value)
        {
            if (value.Contains('\n') || value.Contains('#') || value != value.Trim() || value.Length == 0)
                throw new ArgumentException($"{key} '{value}' cannot be written as one line (no newline, '#', or surrounding spaces)");
            text.Append(key).Append(" = ").AppendLine(value);
        }
    }

    /// <exception cref="CaptureConfigurationException">A line is malformed, a key unknown or repeated, a value invalid, or target missing.</exception>
    public static CaptureConfiguration Parse(string text, string source = DefaultPath)
    {
        if (text.Length > MaxBytes)
            throw new CaptureConfigurationException(source, null, $"{text.Length} characters, more than the {MaxBytes} a configuration file may have");
        var values = new Dictionary<string, (string Value, int Line)>(StringComparer.Ordinal);
        int number = 0;
        foreach (string raw in text.Split('\n'))
        {
            number++;
            int hash = raw.IndexOf('#');
            string line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length == 0)
                continue;
            int equals = line.IndexOf('=');
            if (equals <= 0)
                throw new CaptureConfigurationException(source, number, "expected 'key = value'");
            string key = line[..equals].Trim();
            string value = line[(equals + 1)..].Trim();
            if (!Keys.Contains(key))
                throw new CaptureConfigurationException(source, number, $"unknown key '{key}' (known: {string.Join(", ", Keys)})");
            if (value.Length == 0)
                throw new CaptureConfigurationException(source, number, $"{key} has no value");
            if (!values.TryAdd(key, (value, number)))
                throw new CaptureConfigurationException(source, number, $"{key} is set twice (first on line {values[key].Line})");
        }
        if (!values.TryGetValue("target", out var target))
            throw new CaptureConfigurationException(source, null, "no target (UUID=…, LABEL=… or a /dev path)");

        var configuration = new CaptureConfiguration { Target = target.Value };
        foreach ((string key, (string value, int line)) in values)
        {
            configuration = key switch
            {
                "target" => configuration,
                "target_kind" => configuration with { Kind = value switch
                {
                    "filesystem" => TargetKind.Filesystem,
                    "raw" => TargetKind.Raw,
                    _ => throw Invalid(line, key, value, "filesystem or raw"),
                } },
                "fstype" => configuration with { FileSystem = value },
                "path" => configuration with { Path = value.StartsWith('/') ? value : throw Invalid(line, key, value, "an absolute path") },
                "format" => configuration with { Format = value switch
                {
                    "kds" => CaptureFormat.Native,
                    "kdump" => CaptureFormat.Kdump,
                    _ => throw Invalid(line, key, value, "kds or kdump"),
                } },
                "compression" => configuration with { Compression = value switch
                {
                    "lz4" => PageCompression.Lz4,
                    "zstd" => PageCompression.Zstd,
                    "zlib" => PageCompression.Zlib,
                    "lzo" => PageCompression.Lzo,
                    "none" => PageCompression.None,
                    _ => throw Invalid(line, key, value, "lz4, zstd, zlib, lzo or none"),
                } },
                "level" => configuration with { DumpLevel = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int level) && level <= 31
                    ? level : throw Invalid(line, key, value, "0 to 31") },
                "final_action" => configuration with { FinalAction = ParseAction(line, key, value) },
                "failure_action" => configuration with { FailureAction = ParseAction(line, key, value) },
                "device_timeout" => configuration with { DeviceTimeout = ParseSeconds(line, key, value, allowZero: false) },
                "capture_timeout" => configuration with { CaptureTimeout = ParseSeconds(line, key, value, allowZero: true) },
                _ => throw new CaptureConfigurationException(source, line, $"unknown key '{key}'"),
            };
        }
        if (configuration.Kind == TargetKind.Raw && configuration.Format != CaptureFormat.Native)
            throw new CaptureConfigurationException(source, values["target_kind"].Line, "a raw target takes the kds format only (it is written as a forward-only stream)");
        return configuration;

        CaptureConfigurationException Invalid(int line, string key, string value, string expected) =>
            new(source, line, $"{key} '{value}' is not {expected}");

        CrashAction ParseAction(int line, string key, string value) => value switch
        {
            "reboot" => CrashAction.Reboot,
            "poweroff" => CrashAction.PowerOff,
            "halt" => CrashAction.Halt,
            "shell" => CrashAction.Shell,
            _ => throw Invalid(line, key, value, "reboot, poweroff, halt or shell"),
        };

        TimeSpan ParseSeconds(int line, string key, string value, bool allowZero) =>
            int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds <= 86_400 && (allowZero || seconds > 0)
                ? TimeSpan.FromSeconds(seconds)
                : throw Invalid(line, key, value, allowZero ? "0 to 86400 seconds" : "1 to 86400 seconds");
    }

    private static string ActionName(CrashAction action) => action switch
    {
        CrashAction.PowerOff => "poweroff",
        CrashAction.Halt => "halt",
        CrashAction.Shell => "shell",
        _ => "reboot",
    };
}

/// <summary>capture.conf is malformed; the message names the file and line.</summary>
public sealed class CaptureConfigurationException(string path, int? line, string problem)
    : Exception(line is int l ? $"{path}:{l}: {problem}" : $"{path}: {problem}");
