using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Compression;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>convert DUMP OUT --to elf|kdump</c>: rewrite a dump in another container, crash-safely.</summary>
internal static class ConvertCommand
{
    public static Command Create(Stream output)
    {
        var dump = AnalyzerCli.DumpArgument();
        var destination = new Argument<string>("out") { Description = "the file to write (must not exist; written as OUT-incomplete, then renamed)" };
        var to = new Option<string>("--to") { Description = "output format", Required = true };
        to.AcceptOnlyFromAmong("elf", "kdump");
        var compress = new Option<string>("--compress", "-c") { Description = "page compression for --to kdump", DefaultValueFactory = _ => "zlib" };
        compress.AcceptOnlyFromAmong("zlib", "lzo", "zstd", "snappy", "none");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no summary line" };
        var command = new Command("convert", "write the dump as an ELF vmcore or as makedumpfile's kdump-compressed format")
        {
            dump, destination, to, compress, quiet,
        };
        command.SetAction(parse =>
        {
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
                    string summary = parse.GetValue(to) switch
                    {
                        "elf" => DescribeElf(ElfVmcoreWriter.Write(kd.Reader, file.Stream)),
                        _ => DescribeKdump(KdumpCompressedWriter.Write(kd.Reader, file.Stream, new KdumpWriterOptions { Compression = ParseCompression(parse.GetValue(compress)!) })),
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
        "none" => PageCompression.None,
        _ => PageCompression.Zlib,
    };

    private static string DescribeKdump(KdumpWriteResult r) =>
        $"kdump-compressed, {r.DumpedPages} pages ({r.ZeroPages} zero, {r.RawPages} stored raw, {r.LostPages} lost), {r.Bytes >> 20} MiB";

    private static string DescribeElf(ElfWriteResult r) =>
        $"ELF vmcore, {r.LoadSegments} PT_LOAD segments, {r.BytesWritten >> 20} MiB of memory written, {r.BytesExcluded >> 20} MiB absent";
}
