using KdumpSharp.Analysis;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.Filtering;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Capture;

/// <summary>How a capture ended.</summary>
public enum CaptureOutcome
{
    /// <summary>dmesg and the dump are saved whole.</summary>
    Complete,

    /// <summary>The disk filled up: the dump is kept as "-incomplete" with every page written before the stop.</summary>
    DiskFull,
}

/// <summary>What a capture produced.</summary>
public sealed record CaptureResult(CaptureOutcome Outcome, DumpDirectory Directory, string? DmesgPath, string DumpPath, long DumpBytes, TimeSpan Elapsed);

/// <summary>
/// One capture, in the order that keeps the most when things go wrong: the kernel log is saved
/// first, as its own file, so a dump that fails still leaves the log; then the dump; then the
/// capture's own log. Every file is written "-incomplete", fsynced, then renamed.
/// </summary>
public static class CaptureRunner
{
    public static CaptureResult Run(CaptureOptions options, CaptureLog log, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(options.Input))
            throw new FileNotFoundException("no such file", options.Input);
        log.Write($"reading {options.Input}");
        // pread, not mmap: a poisoned page must cost one unreadable page, not a SIGBUS.
        using KernelDump dump = new(DumpFile.Open(new FileReadSource(options.Input)));
        IDumpReader reader = dump.Reader;
        log.Write($"{reader.Memory.TotalBytes >> 20} MiB of RAM in {reader.Memory.Ranges.Count} ranges, {reader.Notes.Count(n => n.IsPrStatus)} CPU notes, kernel {reader.Vmcoreinfo?.OsRelease ?? "unknown (no VMCOREINFO)"}");

        DumpDirectory directory;
        try
        {
            directory = DumpDirectory.Create(options.Directory, HostName(options, dump), DateTimeOffset.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CaptureOutputException($"cannot create a dump directory in {options.Directory}: {e.Message}", e);
        }
        log.Write($"saving to {directory.Path}");
        string? dmesgPath = SaveDmesg(dump, directory, log);

        string dumpPath = directory.FileFor(options.Format == CaptureFormat.Native ? DumpDirectory.DumpFileName : DumpDirectory.KdumpFileName);
        CaptureOutcome outcome = CaptureOutcome.Complete;
        long bytes = 0;
        using (CrashSafeFile file = CrashSafeFile.Create(dumpPath))
        {
            try
            {
                bytes = WriteDump(dump, options, file.Stream, log, progress, cancellationToken);
                file.Commit();
                log.Write($"dump saved: {dumpPath}, {bytes >> 20} MiB");
            }
            catch (IOException e) when (CrashSafeFile.IsOutOfSpace(e))
            {
                outcome = CaptureOutcome.DiskFull;
                log.Write($"disk full after {file.Stream.Position >> 20} MiB: the dump is kept incomplete as {file.IncompletePath}");
                dumpPath = file.IncompletePath;
            }
        }
        SaveCaptureLog(directory, log);
        return new CaptureResult(outcome, directory, dmesgPath, dumpPath, bytes, log.Elapsed);
    }

    private static long WriteDump(KernelDump dump, CaptureOptions options, Stream output, CaptureLog log, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        log.Write($"writing {options.Format} dump, {options.Compression} compression, dump level {options.DumpLevel}");
        switch (options.Format)
        {
            case CaptureFormat.Kdump:
                var level = DumpLevels.FromNumber(options.DumpLevel);
                FilteredDump filtered = FilteredDump.Create(dump, level);
                log.Write($"classified: {Describe(filtered.Counts)}");
                KdumpWriteResult r = KdumpCompressedWriter.Write(filtered, output,
                    new KdumpWriterOptions { Compression = options.Compression, DumpLevel = options.DumpLevel }, cancellationToken);
                progress?.Report(1.0);
                log.Write($"{r.DumpedPages} pages written ({r.ZeroPages} zero, {r.RawPages} raw, {r.LostPages} unreadable)");
                return r.Bytes;
            default:
                throw new NotSupportedException($"capture format {options.Format}");
        }
    }

    private static string Describe(PageClassCounts counts) =>
        string.Join(", ", Enum.GetValues<PageClass>().Where(c => counts[c] > 0).Select(c => $"{counts[c]} {c}"));

    /// <summary>The kernel log, before anything else, so a failed dump still leaves it. A log that cannot be read is logged, not fatal.</summary>
    private static string? SaveDmesg(KernelDump dump, DumpDirectory directory, CaptureLog log)
    {
        KernelLog kernelLog;
        try
        {
            kernelLog = dump.Log;
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            log.Write($"dmesg not saved: {e.Message}");
            return null;
        }
        string path = directory.FileFor(DumpDirectory.DmesgFileName);
        using (CrashSafeFile file = CrashSafeFile.Create(path))
        {
            DmesgFormatter.Write(file.Stream, kernelLog.Records);
            file.Commit();
        }
        foreach (string problem in kernelLog.Problems)
            log.Write($"dmesg: {problem}");
        log.Write($"dmesg saved: {path} ({kernelLog.Records.Count} records)");
        return path;
    }

    /// <summary>The capture's own log, last; on a full disk it may not fit, which must not hide the dump's outcome.</summary>
    private static void SaveCaptureLog(DumpDirectory directory, CaptureLog log)
    {
        try
        {
            using CrashSafeFile file = CrashSafeFile.Create(directory.FileFor(DumpDirectory.LogFileName));
            using (var writer = new StreamWriter(file.Stream, leaveOpen: true))
                writer.Write(log.Text);
            file.Commit();
        }
        catch (IOException e) when (CrashSafeFile.IsOutOfSpace(e))
        {
            log.Write($"capture.log not saved: {e.Message}");
        }
    }

    /// <summary>The directory name: the crashed machine's nodename when it had one, else this machine's.</summary>
    private static string HostName(CaptureOptions options, KernelDump dump)
    {
        if (options.HostName is string given)
            return given;
        string? node = null;
        try
        {
            node = UtsName.Read(dump.Virtual, dump.Vmcoreinfo).NodeName;
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            node = (dump.Reader as IHasUtsName)?.UtsName.NodeName;
        }
        return string.IsNullOrEmpty(node) || node == "(none)" ? Environment.MachineName : node;
    }

}

/// <summary>The capture's output could not be created (permission, read-only file system, missing mount).</summary>
public sealed class CaptureOutputException(string message, Exception inner) : Exception(message, inner);
