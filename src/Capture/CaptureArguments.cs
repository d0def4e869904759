using System.Globalization;
using System.Text;
using KdumpSharp.Compression;
using KdumpSharp.Dumps.Native;

namespace KdumpSharp.Capture;

/// <summary>What a kds-capture command line asks for.</summary>
internal enum CaptureRequest
{
    Capture,
    Help,
    Version,
}

/// <summary>
/// kds-capture's command line, parsed by hand. kds-capture runs in the crash kernel, where its start-up
/// is part of every capture: building System.CommandLine's option tree and parsing with it took ~10 ms
/// before the first page was read (of a level-31 capture's ~0.27 s), and its optional input argument took
/// an unknown option (<c>--bogus</c>) for the input's path. The syntax is the usual one: <c>--name value</c>,
/// <c>--name=value</c>, <c>-x value</c>, flags alone, <c>--</c> ends the options, one input path.
/// </summary>
internal sealed record CaptureArguments(CaptureRequest Request, CaptureOptions Options, bool IsQuiet, bool ToStdout)
{
    /// <summary>An option: its long and short names, the placeholder of its value (null: a flag) and its help line.</summary>
    private sealed class Spec(string name, string? shortName, string? value, string description)
    {
        public string Name { get; } = name;
        public string? Short { get; } = shortName;
        public string? Value { get; } = value;
        public string Description { get; } = description;
    }

    private static readonly Spec Dir = new("--dir", "-d", "dir", "where the per-crash directory is created [default: /var/crash]");
    private static readonly Spec Format = new("--format", "-f", "kds|kdump", "kds (our crash-safe format) or kdump (makedumpfile's) [default: kds]");
    private static readonly Spec Compress = new("--compress", "-c", "lz4|zstd|none|zlib|lzo|snappy", "lz4 or zstd or none for kds; zlib, lzo, zstd or none for kdump");
    private static readonly Spec CompressLevel = new("--compress-level", null, "n",
        $"kds format only: zstd's level (negative: faster, bigger; default {NativeDumpWriterOptions.DefaultZstdLevel}) or LZ4's acceleration "
        + $"(1 and up; default {NativeDumpWriterOptions.DefaultLz4Acceleration} for kernel memory, {NativeDumpWriterOptions.DefaultLz4BulkAcceleration} "
        + "for user, cache and free pages); a value given applies to every page");
    private static readonly Spec Level = new("--level", "-l", "level", "dump level (makedumpfile's bits: 1 zero, 2 cache, 4 private cache, 8 user, 16 free) [default: 31]");
    private static readonly Spec Threads = new("--threads", "-j", "threads", "threads that read and compress, this one included [default: 0, one per CPU]");
    private static readonly Spec Quiet = new("--quiet", "-q", null, "no progress or step messages, only errors");
    private static readonly Spec Host = new("--host", null, "host", "name for the dump directory (default: the crashed machine's nodename)");
    private static readonly Spec Dedup = new("--dedup", null, null, "kds format: record a kept page with the same bytes as a page stored before as a copy of it (the default when the level keeps user, cache or free pages)");
    private static readonly Spec NoDedup = new("--no-dedup", null, null, "kds format: store every kept page, even one with the same bytes as a page stored before (the default when the level keeps only kernel pages, as 31 does)");
    private static readonly Spec Mmap = new("--mmap", null, null, "map a vmcore file instead of reading it: faster, but a disk error kills the capture (SIGBUS) instead of costing one page (/proc/vmcore is mapped by default: there the two are equally safe)");
    private static readonly Spec NoMmap = new("--no-mmap", null, null, "read /proc/vmcore with pread instead of mapping it");
    private static readonly Spec Stdout = new("--stdout", null, null, "stream the kds dump to standard output (for ssh or a socket) instead of a directory; dmesg and the log travel inside it");
    private static readonly Spec HelpOption = new("--help", "-h", null, "show this help");
    private static readonly Spec VersionOption = new("--version", null, null, "show the version");

    private static readonly Spec[] Specs = [Dir, Format, Compress, CompressLevel, Level, Threads, Quiet, Host, Dedup, NoDedup, Mmap, NoMmap, Stdout, HelpOption, VersionOption];

    /// <summary>The arguments as a request, or <see cref="UsageException"/> naming the first thing wrong with them.</summary>
    public static CaptureArguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>();
        var flags = new HashSet<string>();
        string? input = null;
        bool optionsEnded = false;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (optionsEnded || arg.Length < 2 || arg[0] != '-')
            {
                if (input is not null)
                    throw new UsageException($"one input only, not both '{input}' and '{arg}'");
                input = arg;
                continue;
            }
            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }
            int equals = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=') : -1;
            string name = equals < 0 ? arg : arg[..equals];
            Spec spec = Find(name) ?? throw new UsageException($"unknown option '{name}' (kds-capture --help lists them)");
            if (spec.Value is null)
            {
                if (equals >= 0)
                    throw new UsageException($"{spec.Name} takes no value");
                flags.Add(spec.Name);
                continue;
            }
            string value;
            if (equals >= 0)
                value = arg[(equals + 1)..];
            else if (i + 1 < args.Length)
                value = args[++i];
            else
                throw new UsageException($"{name} needs a value ({spec.Value})");
            if (!values.TryAdd(spec.Name, value))
                throw new UsageException($"{spec.Name} given twice");
        }

        if (flags.Contains(HelpOption.Name))
            return new CaptureArguments(CaptureRequest.Help, new CaptureOptions(), IsQuiet: false, ToStdout: false);
        if (flags.Contains(VersionOption.Name))
            return new CaptureArguments(CaptureRequest.Version, new CaptureOptions(), IsQuiet: false, ToStdout: false);
        if (flags.Contains(Mmap.Name) && flags.Contains(NoMmap.Name))
            throw new UsageException("--mmap and --no-mmap contradict each other");
        if (flags.Contains(Dedup.Name) && flags.Contains(NoDedup.Name))
            throw new UsageException("--dedup and --no-dedup contradict each other");

        bool kdump = OneOf(values, Format, "kds", "kdump") == "kdump";
        PageCompression compression = ParseCompression(values.GetValueOrDefault(Compress.Name), kdump);
        int? compressionLevel = values.TryGetValue(CompressLevel.Name, out string? c) ? Integer(CompressLevel, c) : null;
        int dumpLevel = values.TryGetValue(Level.Name, out string? l) ? Integer(Level, l) : 31;
        if (dumpLevel is < 0 or > 31)
            throw new UsageException("--level must be between 0 and 31");
        int threads = values.TryGetValue(Threads.Name, out string? j) ? Integer(Threads, j) : 0;
        if (threads < 0)
            throw new UsageException("--threads must be 0 (one per CPU) or more");
        bool? map = flags.Contains(Mmap.Name) ? true : flags.Contains(NoMmap.Name) ? false : null;
        var options = new CaptureOptions
        {
            Input = input ?? "/proc/vmcore",
            Directory = values.GetValueOrDefault(Dir.Name) ?? "/var/crash",
            Format = kdump ? CaptureFormat.Kdump : CaptureFormat.Native,
            Compression = compression,
            CompressionLevel = CheckCompressionLevel(compressionLevel, kdump, compression),
            DumpLevel = dumpLevel,
            Threads = threads,
            HostName = values.GetValueOrDefault(Host.Name),
            Mmap = map,
            Deduplicate = flags.Contains(Dedup.Name) ? true : flags.Contains(NoDedup.Name) ? false : null,
        };
        return new CaptureArguments(CaptureRequest.Capture, options, flags.Contains(Quiet.Name), flags.Contains(Stdout.Name));
    }

    /// <summary>The --help text: what kds-capture does, its usage and every option.</summary>
    public static string Help
    {
        get
        {
            var text = new StringBuilder();
            text.AppendLine("kds-capture: save /proc/vmcore (or any vmcore) as a crash-safe, compressed dump, with the kernel log saved first");
            text.AppendLine();
            text.AppendLine("Usage: kds-capture [options] [input]");
            text.AppendLine();
            text.AppendLine("  input  the vmcore to save [default: /proc/vmcore]");
            text.AppendLine();
            text.AppendLine("Options (--name value or --name=value):");
            foreach (Spec spec in Specs)
            {
                string names = (spec.Short is null ? "    " : spec.Short + ", ") + spec.Name + (spec.Value is null ? "" : $" <{spec.Value}>");
                text.AppendLine(CultureInfo.InvariantCulture, $"  {names,-46} {spec.Description}");
            }
            return text.ToString();
        }
    }

    private static Spec? Find(string name)
    {
        if (name == "-?")
            return HelpOption;
        foreach (Spec spec in Specs)
        {
            if (spec.Name == name || spec.Short == name)
                return spec;
        }
        return null;
    }

    private static int Integer(Spec spec, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new UsageException($"{spec.Name} takes a whole number, not '{value}'");

    /// <summary>The option's value, one of <paramref name="allowed"/>; the first when it is not given.</summary>
    private static string OneOf(Dictionary<string, string> values, Spec spec, params string[] allowed)
    {
        if (!values.TryGetValue(spec.Name, out string? value))
            return allowed[0];
        return Array.IndexOf(allowed, value) >= 0 ? value : throw new UsageException($"{spec.Name} is {string.Join(" or ", allowed)}, not '{value}'");
    }

    private static PageCompression ParseCompression(string? name, bool kdump) => name switch
    {
        null => kdump ? PageCompression.Zlib : PageCompression.Lz4,
        "lz4" when kdump => throw new UsageException("makedumpfile's format has no LZ4; use zlib, lzo or zstd with --format kdump"),
        ("zlib" or "lzo" or "snappy") when !kdump => throw new UsageException($"the kds format uses lz4, zstd or none, not {name}"),
        "lz4" => PageCompression.Lz4,
        "zstd" => PageCompression.Zstd,
        "zlib" => PageCompression.Zlib,
        "lzo" => PageCompression.Lzo,
        "snappy" => PageCompression.Snappy,
        "none" => PageCompression.None,
        _ => throw new UsageException($"--compress is lz4, zstd or none for kds, zlib, lzo, snappy, zstd or none for kdump, not '{name}'"),
    };

    /// <summary>The level as given, when the codec has that level: zstd -131072 (ZSTD_minCLevel) to 22, LZ4 1 to 65537 (LZ4_ACCELERATION_MAX).</summary>
    private static int? CheckCompressionLevel(int? level, bool kdump, PageCompression compression) => (level, compression) switch
    {
        (null, _) => null,
        _ when kdump => throw new UsageException("--compress-level is for the kds format; makedumpfile's format uses its codecs' fixed levels"),
        (>= -131072 and <= 22, PageCompression.Zstd) or (>= 1 and <= 65537, PageCompression.Lz4) => level,
        (_, PageCompression.Zstd) => throw new UsageException("--compress-level for zstd must be between -131072 and 22"),
        (_, PageCompression.Lz4) => throw new UsageException("--compress-level for lz4 (its acceleration) must be between 1 and 65537"),
        _ => throw new UsageException("--compress-level needs --compress lz4 or zstd"),
    };
}
