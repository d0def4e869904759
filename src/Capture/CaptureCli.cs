using System.CommandLine;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Text;

namespace KdumpSharp.Capture;

/// <summary>The kds-capture command line: parses arguments, runs the capture, prints.</summary>
public static class CaptureCli
{
    /// <param name="openStandardOutput">Where --stdout streams the dump (the process's stdout; a buffer in tests).</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, Func<Stream>? openStandardOutput = null)
    {
        openStandardOutput ??= Console.OpenStandardOutput;
        var input = new Argument<string>("input") { Description = "the vmcore to save", DefaultValueFactory = _ => "/proc/vmcore" };
        var directory = new Option<string>("--dir", "-d") { Description = "where the per-crash directory is created", DefaultValueFactory = _ => "/var/crash" };
        var format = new Option<string>("--format", "-f") { Description = "kds (our crash-safe format) or kdump (makedumpfile's)", DefaultValueFactory = _ => "kds" };
        format.AcceptOnlyFromAmong("kds", "kdump");
        var compress = new Option<string>("--compress", "-c") { Description = "lz4 or zstd or none for kds; zlib, lzo, zstd or none for kdump" };
        compress.AcceptOnlyFromAmong("lz4", "zstd", "zlib", "lzo", "snappy", "none");
        var compressLevel = new Option<int?>("--compress-level")
        {
            Description = "kds format only: zstd's level (negative: faster, bigger; default "
                + $"{NativeDumpWriterOptions.DefaultZstdLevel}) or LZ4's acceleration (1 and up; default {NativeDumpWriterOptions.DefaultLz4Acceleration} for kernel memory, "
                + $"{NativeDumpWriterOptions.DefaultLz4BulkAcceleration} for user, cache and free pages); a value given applies to every page",
        };
        var level = new Option<int>("--level", "-l") { Description = "dump level (makedumpfile's bits: 1 zero, 2 cache, 4 private cache, 8 user, 16 free)", DefaultValueFactory = _ => 31 };
        level.Validators.Add(r =>
        {
            if (r.GetValue(level) is < 0 or > 31)
                r.AddError("--level must be between 0 and 31");
        });
        var threads = new Option<int>("--threads", "-j") { Description = "threads that read and compress, this one included (0: one per CPU)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no progress or step messages, only errors" };
        var host = new Option<string?>("--host") { Description = "name for the dump directory (default: the crashed machine's nodename)" };
        var noDedup = new Option<bool>("--no-dedup") { Description = "kds format: store every kept page, even one with the same bytes as a page stored before (by default such a page is recorded as a copy of it)" };
        var mmap = new Option<bool>("--mmap") { Description = "map a vmcore file instead of reading it: faster, but a disk error kills the capture (SIGBUS) instead of costing one page (/proc/vmcore is mapped by default: there the two are equally safe)" };
        var noMmap = new Option<bool>("--no-mmap") { Description = "read /proc/vmcore with pread instead of mapping it" };
        var stdout = new Option<bool>("--stdout") { Description = "stream the kds dump to standard output (for ssh or a socket) instead of a directory; dmesg and the log travel inside it" };
        var root = new RootCommand("kds-capture: save /proc/vmcore (or any vmcore) as a crash-safe, compressed dump, with the kernel log saved first")
        {
            input, directory, format, compress, compressLevel, level, threads, quiet, host, noDedup, mmap, noMmap, stdout,
        };
        root.Validators.Add(r =>
        {
            if (r.GetValue(mmap) && r.GetValue(noMmap))
                r.AddError("--mmap and --no-mmap contradict each other");
        });
        root.SetAction(parse =>
        {
            bool kdump = parse.GetValue(format) == "kdump";
            var options = new CaptureOptions
            {
                Input = parse.GetValue(input)!,
                Directory = parse.GetValue(directory)!,
                Format = kdump ? CaptureFormat.Kdump : CaptureFormat.Native,
                Compression = ParseCompression(parse.GetValue(compress), kdump),
                CompressionLevel = CheckCompressionLevel(parse.GetValue(compressLevel), kdump, ParseCompression(parse.GetValue(compress), kdump)),
                DumpLevel = parse.GetValue(level),
                Threads = parse.GetValue(threads),
                HostName = parse.GetValue(host),
                Mmap = parse.GetValue(mmap) ? true : parse.GetValue(noMmap) ? false : null,
                Deduplicate = !parse.GetValue(noDedup),
            };
            bool silent = parse.GetValue(quiet);
            var log = new CaptureLog(silent ? null : error);
            if (parse.GetValue(stdout))
            {
                using Stream pipe = openStandardOutput();
                CaptureRunner.Stream(options, pipe, log, silent ? null : total => new ConsoleProgress(error, total));
                return ExitCodes.Success;
            }
            CaptureResult result = CaptureRunner.Run(options, log, silent ? null : total => new ConsoleProgress(error, total));
            output.WriteLine(result.DumpPath);
            return result.Outcome == CaptureOutcome.DiskFull ? ExitCodes.DiskFull : ExitCodes.Success;
        });

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
                error.WriteLine($"kds-capture: {e.Message}");
            return ExitCodes.Usage;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Render(e, error);
        }
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
        _ => PageCompression.None,
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

    /// <summary>One line on stderr and a documented code for every failure; KDS_DEBUG=1 adds the stack.</summary>
    private static int Render(Exception e, TextWriter error)
    {
        (int code, string message) = e switch
        {
            UsageException u => (ExitCodes.Usage, u.Message),
            CompressionUnavailableException c => (ExitCodes.MissingLibrary, c.Message),
            UnrecognizedDumpException u => (ExitCodes.NotADump, u.Message),
            DumpFormatException f => (ExitCodes.CorruptDump, f.Message),
            FileNotFoundException nf => (ExitCodes.CannotOpen, $"{nf.FileName}: no such file (is this the crash kernel? /proc/vmcore exists only there)"),
            CaptureOutputException o => (ExitCodes.OutputError, o.Message),
            UnauthorizedAccessException a => (ExitCodes.CannotOpen, $"permission denied: {a.Message} (kds-capture must run as root)"),
            IOException io when CrashSafeFile.IsOutOfSpace(io) => (ExitCodes.DiskFull, $"disk full: {io.Message}"),
            IOException io => (ExitCodes.OutputError, io.Message),
            _ => (ExitCodes.InternalError, $"internal error ({e.GetType().Name}): {e.Message}"),
        };
        error.WriteLine($"kds-capture: {OneLineText.Escape(message)}");
        if (Environment.GetEnvironmentVariable("KDS_DEBUG") == "1")
            error.WriteLine(e);
        return code;
    }
}

/// <summary>Options that parse but do not go together.</summary>
public sealed class UsageException(string message) : Exception(message);
