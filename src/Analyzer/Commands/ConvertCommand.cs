using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Compression;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>convert DUMP OUT --to elf|kdump|kds</c>: rewrite a dump in another container, crash-safely.</summary>
internal static class ConvertCommand
{
    public static Command Create(Stream output)
    {
        var dump = AnalyzerCli.DumpArgument();
        var destination = new Argument<string>("out") { Description = "the file to write (must not exist; written as OUT-incomplete, then renamed)" };
        var to = new Option<string>("--to") { Description = "output format", Required = true };
        to.AcceptOnlyFromAmong("elf", "kdump", "kds");
        var compress = new Option<string>("--compress", "-c") { Description = "page compression: --to kdump zlib (default), lzo, zstd, snappy or none; --to kds lz4 (default), zstd or none" };
        compress.AcceptOnlyFromAmong("zlib", "lzo", "zstd", "snappy", "lz4", "none");
        var noDedup = new Option<bool>("--no-dedup") { Description = "--to kds: store every page, even one with the same bytes as a page stored before (by default such a page is recorded as a copy of it)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no summary line" };
        var command = new Command("convert", "write the dump as an ELF vmcore, makedumpfile's kdump-compressed format or KdumpSharp's own (kds)")
        {
            dump, destination, to, compress, noDedup, quiet,
        };
        command.SetAction(parse =>
        {
            string format = parse.GetValue(to)!;
            PageCompression compression = ParseCompression(parse.GetValue(compress) ?? (format == "kds" ? "lz4" : "zlib"));
            if (format == "kds" && compression is not (PageCompression.Lz4 or PageCompression.Zstd or PageCompression.None))
                throw new UsageException($"--to kds stores pages as lz4, zstd or none, not {PageCodec.DisplayName(compression)}");
            if (format == "kdump" && compression == PageCompression.Lz4)
                throw new UsageException("--to kdump cannot store lz4 pages: makedumpfile's format has no lz4 flag");
            using KernelDump kd = KernelDump.Open(parse.GetValue(dump)!);
            string path = parse.GetValue(destination)!;
            CrashSafeFile file;
            try
            {
                file = CrashSafeFile.Create(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new OutputException($"cannot create {path}: {e.Message}", e);
            }
            using (file)
            {
                try
                {
                    string summary = format switch
                    {
                        "elf" => DescribeElf(ElfVmcoreWriter.Write(kd.Reader, file.Stream)),
                        "kds" => DescribeNative(NativeDumpWriter.Write(kd.Reader, file.Stream, new NativeDumpWriterOptions { Compression = compression, AllowCopies = !parse.GetValue(noDedup) })),
                        _ => DescribeKdump(KdumpCompressedWriter.Write(kd.Reader, file.Stream, new KdumpWriterOptions { Compression = compression })),
                    };
                    file.Commit();
                    if (!parse.GetValue(quiet))
                    {
                        using StreamWriter text = AnalyzerCli.Text(output);
                        text.WriteLine($"{file.FinalPath}: {summary}");
                    }
                }
                catch (IOException e)
                {
                    throw new OutputException($"writing {path} failed ({e.Message}); the partial output is {file.IncompletePath}", e);
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static PageCompression ParseCompression(string name) => name switch
    {
        "lzo" => PageCompression.Lzo,
        "zstd" => PageCompression.Zstd,
        "snappy" => PageCompression.Snappy,
        "lz4" => PageCompression.Lz4,
        "none" => PageCompression.None,
        _ => PageCompression.Zlib,
    };

    private static string DescribeKdump(KdumpWriteResult r) =>
        $"kdump-compressed, {r.DumpedPages} pages ({r.ZeroPages} zero, {r.RawPages} stored raw, {r.LostPages} lost), {r.Bytes >> 20} MiB";

    private static string DescribeNative(NativeWriteResult r) =>
        $"KdumpSharp native, {r.Pages.Stored} pages stored ({r.Pages.Copies} copies, {r.Pages.Zero} zero, {r.Pages.Excluded} excluded, {r.Pages.ReadErrors} unreadable, {r.Pages.NotCaptured} lost), {r.Chunks} chunks, {r.Bytes >> 20} MiB"
        + (r.IncompleteReason is null ? "" : $"; incomplete: {r.IncompleteReason}");

    private static string DescribeElf(ElfWriteResult r) =>
        $"ELF vmcore, {r.LoadSegments} PT_LOAD segments, {r.BytesWritten >> 20} MiB of memory written, {r.BytesExcluded >> 20} MiB absent";
}
