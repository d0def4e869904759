using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KdumpSharp.Analysis;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.Dumps.Native;
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
    /// <param name="progress">Given the RAM size in bytes, returns the sink for the fraction done (null for none).</param>
    public static CaptureResult Run(CaptureOptions options, CaptureLog log, Func<ulong, IProgress<double>?>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(options.Input))
            throw new FileNotFoundException("no such file", options.Input);
        log.Write($"reading {options.Input}");
        var source = new FileReadSource(options.Input);
        using KernelDump dump = new(DumpFile.Open(source));
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
        var timings = new List<CaptureTiming>();
        TimeSpan dmesgStart = log.Elapsed;
        (string? dmesgPath, byte[]? dmesg) = SaveDmesg(dump, directory, log);
        timings.Add(new CaptureTiming("dmesg", dmesgStart, log.Elapsed - dmesgStart));

        string dumpPath = directory.FileFor(options.Format == CaptureFormat.Native ? DumpDirectory.DumpFileName : DumpDirectory.KdumpFileName);
        CaptureOutcome outcome = CaptureOutcome.Complete;
        long bytes = 0;
        using (CrashSafeFile file = CrashSafeFile.Create(dumpPath))
        {
            try
            {
                bytes = WriteDump(dump, source, options, file.Stream, log, dmesg, timings, progress?.Invoke(reader.Memory.TotalBytes), cancellationToken);
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

    private static long WriteDump(KernelDump dump, FileReadSource source, CaptureOptions options, Stream output, CaptureLog log, byte[]? dmesg,
        List<CaptureTiming> timings, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        log.Write($"writing {(options.Format == CaptureFormat.Native ? "kds" : "kdump")} dump, {Describe(options)}, dump level {options.DumpLevel}");
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
                return WriteNative(dump, source, options, output, log, dmesg, timings, progress, cancellationToken);
        }
    }

    /// <summary>
    /// Streams the dump in page-frame order: each page is either dropped as its class says (a run at a
    /// time, with the reason recorded), or read and handed to the writer, whose threads compress it.
    /// Memory stays bounded whatever the dump size: the classifier reads 512 struct pages at a time,
    /// the writer holds a few chunks per thread.
    /// </summary>
    private static long WriteNative(KernelDump dump, FileReadSource source, CaptureOptions options, Stream output, CaptureLog log, byte[]? dmesg,
        List<CaptureTiming> timings, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        TimeSpan start = log.Elapsed;
        DumpLevel level = DumpLevels.FromNumber(options.DumpLevel);
        bool findsCopies = options.FindsCopies;
        IDumpReader reader = dump.Reader;
        PhysicalMemory memory = reader.Memory;
        var writerOptions = new NativeDumpWriterOptions
        {
            Compression = options.Compression,
            CompressionLevel = options.CompressionLevel,
            Parallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount,
            DumpLevel = options.DumpLevel,
            AllowCopies = findsCopies,
            Identity = new CaptureIdentity
            {
                Hostname = Environment.MachineName,
                Tool = $"kds-capture {typeof(CaptureRunner).Assembly.GetName().Version}",
                CaptureKernelRelease = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : null,
                CrashedKernel = UtsName.Find(reader),
                CaptureStarted = DateTimeOffset.UtcNow - log.Elapsed,
            },
        };
        // Classes matter to the level, and to the codec when bulk memory is compressed at another level.
        bool bulkLevel = writerOptions.BulkLevel != writerOptions.KernelLevel;
        using IEnumerator<PageClassRun>? runs = Classify(dump, level, bulkLevel, log);
        using var writer = new NativeDumpWriter(output, memory.Ranges, NativeDumpWriter.SerializeNotes(reader), writerOptions);
        if (dmesg is not null)
            writer.WriteDmesg(dmesg);

        ulong total = NativeDumpWriter.RamPages(memory.Ranges), done = 0, reported = 0;
        using DuplicatePageIndex? copies = findsCopies ? new DuplicatePageIndex(total) : null;
        bool map = options.Mmap ?? source.IsOnProcFs;
        log.Write(map ? "reading the kept pages through mmap" : "reading the kept pages with pread");
        using var readAhead = new PageReadAhead(memory, writer.Workers, source, map, fingerprint: copies is not null);
        // Steps wait here in order while their batches are read; excluded spans cost no read but must
        // reach the writer in pfn order, between the reads around them.
        var pending = new Queue<CaptureStep>();
        using IEnumerator<CaptureStep> steps = Plan(memory.Ranges, runs, level).GetEnumerator();
        bool more = steps.MoveNext();
        while (true)
        {
            while (more && pending.Count < MaxPendingSteps && (steps.Current.Exclusion is not null || readAhead.CanSubmit))
            {
                CaptureStep next = steps.Current;
                if (next.Exclusion is null)
                    readAhead.Submit(new PageFrameNumber(next.First), (int)next.Count);
                pending.Enqueue(next);
                more = steps.MoveNext();
            }
            if (!pending.TryDequeue(out CaptureStep step))
                break;
            if (step.Exclusion is ExclusionReason reason)
            {
                writer.AddExcluded(new PageFrameNumber(step.First), step.Count, reason);
            }
            else
            {
                PageBatch batch = readAhead.Take();
                AddBatch(writer, batch, step.Bulk, copies, memory);
                readAhead.Release(batch);
            }
            done += step.Count;
            if (done - reported >= ProgressPages)
            {
                reported = done;
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report((double)done / total);
            }
        }
        progress?.Report(1.0);
        timings.Add(new CaptureTiming("dump", start, log.Elapsed - start));
        if (copies is not null)
            log.Write($"copies: {copies.Copies} pages repeat an earlier page ({copies.FalseMatches} fingerprint matches with other bytes; {copies.TableBytes >> 10} KiB table)");
        else if (options.Deduplicate is null)
            log.Write($"copies: not looked for, dump level {options.DumpLevel} keeps only the kernel's own pages (--dedup looks)");
        writer.AppendCaptureLog(log.Text);
        NativeWriteResult result = writer.Complete(timings);
        log.Write($"pages: {Describe(result.Pages)}; {result.Chunks} chunks");
        return result.Bytes;
    }

    /// <summary>Batches in flight are bounded by the read-ahead; this bounds the excluded spans queued between them.</summary>
    private const int MaxPendingSteps = 4096;

    /// <summary>Pages between progress reports and cancellation checks (64 MiB).</summary>
    private const ulong ProgressPages = 1 << 14;

    /// <summary>Pages to drop for <see cref="Exclusion"/>, or to read (at most <see cref="PageReadAhead.BatchPages"/>) when it is null;
    /// <see cref="Bulk"/> marks the pages to read that are user, cache or free memory.</summary>
    internal readonly record struct CaptureStep(ulong First, ulong Count, ExclusionReason? Exclusion, BatchPageBits Bulk = default);

    /// <summary>
    /// The capture's work in pfn order: every RAM page falls in exactly one step, a span the level drops
    /// (a run at a time, with the reason recorded) or a batch of pages to read, which never crosses a
    /// RAM run. Kept pages of different classes share a batch, aligned to <see cref="PageReadAhead.BatchPages"/>
    /// pfns, so a long kept stretch reads in whole batches whatever its classes; each page's class survives
    /// as its bulk bit.
    /// </summary>
    internal static IEnumerable<CaptureStep> Plan(IReadOnlyList<PhysicalRange> ranges, IEnumerator<PageClassRun>? runs, DumpLevel level)
    {
        bool haveRun = runs?.MoveNext() ?? false;
        foreach ((ulong first, ulong end) in NativePhysicalMemory.FrameRuns(ranges))
        {
            ulong pfn = first, batchStart = first;
            BatchPageBits bulk = default;
            while (pfn < end)
            {
                while (haveRun && runs!.Current.End.Value <= pfn)
                    haveRun = runs.MoveNext();
                // The stretch from pfn that one class (or none: no run covers it, so it is kept) decides.
                ulong stop = end;
                PageClass? pageClass = null;
                if (haveRun && runs!.Current.Start.Value <= pfn)
                {
                    stop = Math.Min(end, runs.Current.End.Value);
                    pageClass = runs.Current.Class;
                }
                else if (haveRun)
                {
                    stop = Math.Min(end, runs!.Current.Start.Value);
                }
                if (pageClass is PageClass excluded && level.Excludes(excluded))
                {
                    if (batchStart < pfn)
                        yield return new CaptureStep(batchStart, pfn - batchStart, null, bulk);
                    yield return new CaptureStep(pfn, stop - pfn, ReasonFor(excluded));
                    pfn = batchStart = stop;
                    bulk = default;
                    continue;
                }
                bool isBulk = pageClass is PageClass c && IsBulk(c);
                while (pfn < stop)
                {
                    ulong batchEnd = (batchStart | (PageReadAhead.BatchPages - 1)) + 1;
                    ulong to = Math.Min(stop, batchEnd);
                    if (isBulk)
                        bulk.Set((int)(pfn - batchStart), (int)(to - batchStart));
                    pfn = to;
                    if (pfn == batchEnd)
                    {
                        yield return new CaptureStep(batchStart, pfn - batchStart, null, bulk);
                        batchStart = pfn;
                        bulk = default;
                    }
                }
            }
            if (batchStart < end)
                yield return new CaptureStep(batchStart, end - batchStart, null, bulk);
        }
    }

    /// <summary>Memory a dump level can drop, and that is most of a dump that keeps it (<see cref="DumpLevels.KeepsBulkMemory"/>): compressed for speed.</summary>
    private static bool IsBulk(PageClass pageClass) => pageClass is PageClass.Cache or PageClass.CachePrivate or PageClass.User or PageClass.Free;

    /// <summary>Hands a batch's pages to the writer: zero pages a run at a time, the others one by one, as a copy
    /// of an earlier page when <paramref name="copies"/> finds one with the same bytes in <paramref name="memory"/>.</summary>
    private static void AddBatch(NativeDumpWriter writer, PageBatch batch, BatchPageBits bulk, DuplicatePageIndex? copies, PhysicalMemory memory)
    {
        ulong first = batch.First.Value;
        int zeroFrom = -1;
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch.Zero[i])
            {
                if (zeroFrom < 0)
                    zeroFrom = i;
                continue;
            }
            if (zeroFrom >= 0)
            {
                writer.AddZeroPages(new PageFrameNumber(first + (ulong)zeroFrom), (ulong)(i - zeroFrom));
                zeroFrom = -1;
            }
            var frame = new PageFrameNumber(first + (ulong)i);
            switch (batch.States[i])
            {
                case PageState.Present when copies is null:
                    writer.AddNonZero(frame, batch.Page(i), bulk.IsSet(i));
                    break;
                case PageState.Present:
                    writer.AddNonZero(frame, batch.Page(i), batch.Fingerprints[i], copies, memory, bulk.IsSet(i));
                    break;
                case PageState.Unreadable:
                    writer.AddReadError(frame, 1);
                    break;
                case PageState.Excluded or PageState.NotInDump:
                    writer.AddExcluded(frame, 1, ExclusionReason.Other);
                    break;
            }
        }
        if (zeroFrom >= 0)
            writer.AddZeroPages(new PageFrameNumber(first + (ulong)zeroFrom), (ulong)(batch.Count - zeroFrom));
    }

    /// <summary>The classifier's runs, or null when neither the level nor the codec (<paramref name="bulkLevel"/>: bulk memory
    /// is compressed differently) needs them, or the dump cannot be classified (then every page is kept, a bigger dump
    /// beats a missing one, and compressed as kernel memory).</summary>
    private static IEnumerator<PageClassRun>? Classify(KernelDump dump, DumpLevel level, bool bulkLevel, CaptureLog log)
    {
        bool filters = (level & ~DumpLevel.Zero) != 0;
        if (!filters && !bulkLevel)
            return null;
        try
        {
            // A level that drops free pages drops poisoned ones too: free blocks can be taken whole.
            bool wholeFreeBlocks = level.Excludes(PageClass.Free);
            return UntilFailure(PageClassifier.Create(dump.Virtual, dump.Vmcoreinfo, dump.Limits, wholeFreeBlocks).Classify().GetEnumerator(), log);
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            log.Write(filters
                ? $"page filtering unavailable, keeping every page: {e.Message}"
                : $"page classes unavailable, every page compressed as kernel memory: {e.Message}");
            return null;
        }
    }

    /// <summary>The runs until the classifier fails part-way, if it does: the pages after the last run are then kept whole
    /// and compressed as kernel memory, as if the dump could not be classified from there on.</summary>
    internal static IEnumerator<PageClassRun> UntilFailure(IEnumerator<PageClassRun> runs, CaptureLog log)
    {
        using (runs)
        {
            ulong end = 0;
            while (true)
            {
                bool more;
                try
                {
                    more = runs.MoveNext();
                }
                catch (Exception e) when (e is KernelDataException or MemoryFaultException)
                {
                    log.Write($"page classes unavailable from pfn 0x{end:x} on, keeping those pages whole: {e.Message}");
                    more = false;
                }
                if (!more)
                    yield break;
                end = runs.Current.End.Value;
                yield return runs.Current;
            }
        }
    }

    /// <summary>The codec and its level; the bulk level only when the dump level keeps some bulk memory. Names come from
    /// switches, not Enum.ToString or Enum.GetValues: in the trimmed build their first calls took ~3 ms, before any page was read.</summary>
    private static string Describe(CaptureOptions options)
    {
        string codec = PageCodec.DisplayName(options.Compression);
        if (options.Format != CaptureFormat.Native)
            return $"{codec} compression";
        var writer = new NativeDumpWriterOptions { Compression = options.Compression, CompressionLevel = options.CompressionLevel };
        DumpLevel level = DumpLevels.FromNumber(options.DumpLevel);
        string knob = options.Compression == PageCompression.Lz4 ? "acceleration" : "level";
        return writer.KernelLevel is not int kernel ? $"{codec} compression"
            : writer.BulkLevel == kernel || !level.KeepsBulkMemory() ? $"{codec} compression ({knob} {kernel})"
            : $"{codec} compression ({knob} {kernel}, {writer.BulkLevel} for user, cache and free pages)";
    }

    private static ExclusionReason ReasonFor(PageClass pageClass) => pageClass switch
    {
        PageClass.Cache => ExclusionReason.Cache,
        PageClass.CachePrivate => ExclusionReason.PrivateCache,
        PageClass.User => ExclusionReason.User,
        PageClass.Free => ExclusionReason.Free,
        PageClass.HwPoison => ExclusionReason.HwPoison,
        PageClass.Offline => ExclusionReason.Offline,
        _ => ExclusionReason.Other,
    };

    private static string Describe(PageCounts p) =>
        $"{p.Stored} stored, {p.Copies} copies, {p.Zero} zero, {p.Excluded} excluded ({p.Cache} cache, {p.PrivateCache} private cache, {p.User} user, {p.Free} free, "
        + $"{p.HwPoison} poisoned, {p.Offline} offline, {p.OtherExcluded} other), {p.ReadErrors} unreadable, {p.NotCaptured} not captured";

    private static string Describe(PageClassCounts counts) =>
        string.Join(", ", Enum.GetValues<PageClass>().Where(c => counts[c] > 0).Select(c => $"{counts[c]} {c}"));

    /// <summary>The kernel log, before anything else, so a failed dump still leaves it. A log that cannot be read is logged, not fatal.</summary>
    private static (string? Path, byte[]? Text) SaveDmesg(KernelDump dump, DumpDirectory directory, CaptureLog log)
    {
        KernelLog kernelLog;
        try
        {
            kernelLog = dump.Log;
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            log.Write($"dmesg not saved: {e.Message}");
            return (null, null);
        }
        using var formatted = new MemoryStream();
        DmesgFormatter.Write(formatted, kernelLog.Records);
        byte[] text = formatted.ToArray();
        string path = directory.FileFor(DumpDirectory.DmesgFileName);
        using (CrashSafeFile file = CrashSafeFile.Create(path))
        {
            file.Stream.Write(text);
            file.Commit();
        }
        foreach (string problem in kernelLog.Problems)
            log.Write($"dmesg: {problem}");
        log.Write($"dmesg saved: {path} ({kernelLog.Records.Count} records)");
        return (path, text);
    }

    /// <summary>
    /// Streams a native dump to <paramref name="output"/> (a pipe to ssh or a socket), forward only: no
    /// directory, the kernel log and the capture log travel inside the dump. The same bytes saved to a
    /// file are a valid dump; cut short, they are a valid incomplete one.
    /// </summary>
    public static long Stream(CaptureOptions options, Stream output, CaptureLog log, Func<ulong, IProgress<double>?>? progress = null, CancellationToken cancellationToken = default)
    {
        if (options.Format != CaptureFormat.Native)
            throw new CaptureOutputException("only the kds format can be streamed: makedumpfile's format seeks back to write its header", new NotSupportedException());
        if (!File.Exists(options.Input))
            throw new FileNotFoundException("no such file", options.Input);
        log.Write($"reading {options.Input}, streaming the dump");
        var source = new FileReadSource(options.Input);
        using KernelDump dump = new(DumpFile.Open(source));
        var timings = new List<CaptureTiming>();
        byte[]? dmesg = null;
        try
        {
            using var formatted = new MemoryStream();
            DmesgFormatter.Write(formatted, dump.Log.Records);
            dmesg = formatted.ToArray();
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            log.Write($"dmesg not saved: {e.Message}");
        }
        long bytes = WriteNative(dump, source, options, output, log, dmesg, timings, progress?.Invoke(dump.Reader.Memory.TotalBytes), cancellationToken);
        output.Flush();
        log.Write($"dump streamed: {bytes >> 20} MiB");
        return bytes;
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
        string? node = UtsName.Find(dump.Reader)?.NodeName;
        return string.IsNullOrEmpty(node) || node == "(none)" ? Environment.MachineName : node;
    }

}

/// <summary>One bit per page of a read batch (at most <see cref="PageReadAhead.BatchPages"/> pages).</summary>
[InlineArray(Words)]
internal struct BatchPageBits
{
    private const int Words = PageReadAhead.BatchPages / 64;
    private ulong _word;

    /// <summary>Sets pages [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public void Set(int from, int to)
    {
        Span<ulong> words = MemoryMarshal.CreateSpan(ref _word, Words);
        for (int i = from; i < to; i++)
            words[i >> 6] |= 1UL << (i & 63);
    }

    public readonly bool IsSet(int page) => (MemoryMarshal.CreateReadOnlySpan(in _word, Words)[page >> 6] & (1UL << (page & 63))) != 0;
}

/// <summary>The capture's output could not be created (permission, read-only file system, missing mount).</summary>
public sealed class CaptureOutputException(string message, Exception inner) : Exception(message, inner);
