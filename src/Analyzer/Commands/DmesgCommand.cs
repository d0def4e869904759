using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>dmesg DUMP</c>: the kernel log, by default byte-identical to vmcore-dmesg.</summary>
internal static class DmesgCommand
{
    public static Command Create(Stream output, TextWriter error)
    {
        var dump = AnalyzerCli.DumpArgument();
        var caller = new Option<bool>("--caller") { Description = "add the caller column ([T123] task or [C1] CPU), as makedumpfile 1.7.5+ does" };
        var ctime = new Option<bool>("--ctime", "-T") { Description = "wall-clock times (UTC) from the crash time, like crash's log -T" };
        var command = new Command("dmesg", "print the kernel log from the printk ring buffer (5.10+) or log_buf (3.5-5.9)")
        {
            dump, caller, ctime,
        };
        command.SetAction(parse =>
        {
            using KernelDump kd = KernelDump.Open(parse.GetValue(dump)!);
            KernelLog log;
            try
            {
                log = kd.Log;
            }
            catch (Exception e) when (e is KernelDataException or MemoryFaultException
                && kd.Reader is ICaptureMetadata { Dmesg: ReadOnlyMemory<byte> saved } && !parse.GetValue(caller) && !parse.GetValue(ctime))
            {
                // The log's pages are missing (a capture cut short), but kds-capture saved the formatted
                // log in the dump before any page: print that, and say why.
                output.Write(saved.Span);
                output.Flush();
                error.WriteLine($"kds-analyzer: warning: {kd.Reader.Name}: the log in memory cannot be read ({e.Message}); printed the copy kds-capture saved");
                return ExitCodes.Success;
            }
            var options = new DmesgOptions
            {
                ShowCaller = parse.GetValue(caller),
                WallClock = parse.GetValue(ctime)
                    ? DmesgWallClock.FromLog(log, kd.Vmcoreinfo) ?? throw new UsageException("-T needs CRASHTIME in VMCOREINFO, and this dump has none")
                    : null,
            };
            DmesgFormatter.Write(output, log.Records, options);
            output.Flush();
            foreach (string problem in log.Problems)
                error.WriteLine($"kds-analyzer: warning: {kd.Reader.Name}: {problem}");
            return ExitCodes.Success;
        });
        return command;
    }
}
