using System.Text;
using KdumpSharp.Filtering;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Threading;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Writes KDS format version 1 (docs/format.md) to a forward-only stream: nothing is ever sought or
/// rewritten, so the output may be a pipe, a socket or stdout, and whatever reached it before the
/// writer stopped is a dump a reader opens.
/// <list type="number">
/// <item>The constructor writes the header and the Ranges, Notes and Capture sections.</item>
/// <item><see cref="WriteDmesg"/> (kds-capture calls it first) and <see cref="AppendCaptureLog"/> write sections at any time.</item>
/// <item><see cref="AddPage"/>, <see cref="AddCopy"/>, <see cref="AddExcluded"/> and <see cref="AddReadError"/> describe the RAM pages in
/// ascending pfn order. Pages never described become NotCaptured (read back as lost).</item>
/// <item><see cref="Complete"/> writes the counts, timings, index and trailer.</item>
/// </list>
/// Chunks are compressed by <see cref="NativeDumpWriterOptions.Parallelism"/> threads (the caller's among them, while it waits); the caller's
/// thread does all the writing. Memory is bounded: (2 × threads + 1) chunk buffers of about
/// 2 × chunk size + 32 KiB each, plus 32 bytes per 4096 chunks for the index. The writer does not own
/// the stream. Not thread-safe: one caller at a time. After an exception (the stream failed, say) the
/// writer refuses further calls; what it wrote stays a readable, incomplete dump.
/// </summary>
public sealed partial class NativeDumpWriter : IDisposable
{
    /// <summary>16 pages (64 KiB) per chunk; docs/format.md §4.3 says why.</summary>
    public const int DefaultChunkPages = 16;

    /// <summary>Pfns one chunk may cover at most (4 GiB of RAM), so long excluded stretches still
    /// produce records regularly and a cut-off capture loses little of what it had described.</summary>
    private const ulong MaxChunkSpan = 1UL << 20;

    private readonly Stream _output;
    private readonly NativeDumpWriterOptions _options;
    // A random GUID, not RandomNumberGenerator: on Linux that one loads OpenSSL (libssl), which the
    // crash initramfs does not carry; Guid.NewGuid reads the kernel's getrandom through System.Native.
    private readonly byte[] _dumpId = Guid.NewGuid().ToByteArray();
    private readonly (ulong First, ulong End)[] _frameRuns;
    private readonly ChunkCompressor _compressor;
    private readonly PageTally _tally = new();
    private readonly List<SectionEntry> _sections = [];
    private readonly List<BlockEntry> _blocks = [];
    private readonly List<ChunkEntry> _blockChunks = new(NativeFormat.MaxIndexBlockChunks);
    private readonly byte[] _recordHeader = new byte[RecordHeader.Size];
    private readonly Action<ChunkJob> _writeChunk;
    private long _position;
    private long _chunks;
    private int _runIndex;
    private ulong _next;
    private ulong? _firstNotCaptured;
    private ChunkJob? _current;
    private bool _dmesgWritten;
    private State _state = State.Open;

    private enum State
    {
        Open,
        Completed,
        Failed,
    }

    /// <summary>
    /// Starts a dump of a machine whose RAM is <paramref name="ranges"/> (sorted, disjoint: the PT_LOADs
    /// of /proc/vmcore) and whose ELF notes are <paramref name="notes"/> (the PT_NOTE bytes, verbatim),
    /// writing the header and the metadata needed to read any page. Throws
    /// <see cref="Compression.CompressionUnavailableException"/> when the codec's library is missing.
    /// </summary>
    public NativeDumpWriter(Stream output, IReadOnlyList<PhysicalRange> ranges, ReadOnlyMemory<byte> notes, NativeDumpWriterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(ranges);
        options ??= NativeDumpWriterOptions.Default;
        if (!output.CanWrite)
            throw new ArgumentException("the output stream is not writable", nameof(output));
        if (options.ChunkPages is < 1 or > NativeFormat.MaxChunkPages)
            throw new ArgumentOutOfRangeException(nameof(options), options.ChunkPages, $"ChunkPages must be 1 to {NativeFormat.MaxChunkPages}");
        if (options.Parallelism < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.Parallelism, "Parallelism must be at least 1");
        CheckRanges(ranges);
        _output = output;
        _options = options;
        _frameRuns = NativePhysicalMemory.FrameRuns(ranges);
        _next = _frameRuns.Length > 0 ? _frameRuns[0].First : 0;
        _writeChunk = WriteChunk;
        int threads = Math.Min(options.Parallelism, 256);
        Workers = threads > 1 ? new WorkerPool(threads - 1, "kds-work") : null;
        try
        {
            _compressor = new ChunkCompressor(options.Compression, options.KernelLevel, options.BulkLevel, options.ChunkPages, Workers, _writeChunk);
            var header = new NativeFileHeader
            {
                Version = NativeFormat.Version,
                PageSize = NativeFormat.PageSize,
                IncompatFlags = (uint)(options.AllowCopies ? IncompatFeatures.Copies : IncompatFeatures.None),
                Codec = NativeFormat.CodecId(options.Compression),
                ChunkPages = (ushort)options.ChunkPages,
                DumpId = _dumpId,
            };
            byte[] bytes = new byte[NativeFileHeader.Size];
            header.Write(bytes);
            Write(bytes);
            WriteSection(RecordType.RangesSection, NativeSections.EncodeRanges(ranges));
            WriteSection(RecordType.NotesSection, notes.Span);
            WriteSection(RecordType.CaptureSection, NativeSections.EncodeCapture(options.DumpLevel, options.Identity));
        }
        catch
        {
            // Null when the compressor itself failed (a codec library missing).
            _compressor?.Dispose();
            Workers?.Dispose();
            throw;
        }
    }

    /// <summary>The threads that compress chunks (<see cref="NativeDumpWriterOptions.Parallelism"/> less the caller's),
    /// which a capture also gives its page reads to; null with a parallelism of 1.</summary>
    internal WorkerPool? Workers { get; }

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten => _position;

    /// <summary>Saves the crashed kernel's log (vmcore-dmesg's text). Once per dump, at any time; kds-capture does it before any page.</summary>
    public void WriteDmesg(ReadOnlySpan<byte> text)
    {
        CheckOpen();
        if (_dmesgWritten)
            throw new InvalidOperationException("the dmesg was written already");
        try
        {
            WriteSection(RecordType.DmesgSection, text);
            _dmesgWritten = true;
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
    }

    /// <summary>Appends to the capture's own log; a reader concatenates every piece in order. Call it as often as the log should be safe on disk.</summary>
    public void AppendCaptureLog(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        CheckOpen();
        try
        {
            WriteSection(RecordType.CaptureLogSection, Encoding.UTF8.GetBytes(text));
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
    }

    /// <summary>
    /// Adds the bytes of the page at <paramref name="frame"/>, which must be a RAM page after every
    /// page described so far. An all-zero page is recorded as such and not stored.
    /// </summary>
    public void AddPage(PageFrameNumber frame, ReadOnlySpan<byte> page) => Add(frame, page, ZeroPage.IsZero(page) ? PageKind.Zero : PageKind.Present);

    /// <summary>Adds one page whose kind (Present or Zero) the caller has decided; <paramref name="bulk"/>: it is
    /// bulk memory (<see cref="NativeDumpWriterOptions.BulkLevel"/>).</summary>
    private void Add(PageFrameNumber frame, ReadOnlySpan<byte> page, PageKind kind, bool bulk = false)
    {
        if (page.Length != PageFrameNumber.PageSize)
            throw new ArgumentException($"a page is {PageFrameNumber.PageSize} bytes, not {page.Length}", nameof(page));
        CheckOpen();
        CheckOrder(frame.Value);
        if (!IsRam(frame.Value))
            throw new ArgumentOutOfRangeException(nameof(frame), $"{frame} is in no RAM range of this dump");
        try
        {
            FillNotCaptured(frame.Value);
            Append(kind, 1, page, bulk: bulk);
            SyncRunIndex();
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
    }

    /// <summary>
    /// Records the page at <paramref name="frame"/> as a copy of <paramref name="source"/>: an earlier page
    /// this writer was given by <see cref="AddPage"/>, not all zero, whose bytes the caller has compared
    /// and found equal (the writer cannot check that: it no longer holds them). Needs
    /// <see cref="NativeDumpWriterOptions.AllowCopies"/>.
    /// </summary>
    public void AddCopy(PageFrameNumber frame, PageFrameNumber source)
    {
        CheckOpen();
        if (!_options.AllowCopies)
            throw new InvalidOperationException("copies need NativeDumpWriterOptions.AllowCopies, which marks the file for readers that know them");
        CheckOrder(frame.Value);
        if (source.Value >= frame.Value)
            throw new ArgumentOutOfRangeException(nameof(source), $"a copy repeats an earlier page: {source} is not before {frame}");
        if (!IsRam(frame.Value))
            throw new ArgumentOutOfRangeException(nameof(frame), $"{frame} is in no RAM range of this dump");
        try
        {
            FillNotCaptured(frame.Value);
            Append(PageKind.Copy, 1, default, source.Value);
            SyncRunIndex();
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
    }

    /// <summary>
    /// Adds the non-zero page at <paramref name="frame"/> as <see cref="AddPage(PageFrameNumber, ReadOnlySpan{byte})"/> does,
    /// or, when <paramref name="copies"/> finds an earlier page with the same bytes, as a copy of it.
    /// <paramref name="fingerprint"/> is the page's <see cref="DuplicatePageIndex.Fingerprint"/>;
    /// <paramref name="memory"/> is where the pages this writer was given can be read back (the source
    /// being captured), for the byte-for-byte comparison.
    /// </summary>
    public void AddPage(PageFrameNumber frame, ReadOnlySpan<byte> page, ulong fingerprint, DuplicatePageIndex copies, PhysicalMemory memory)
    {
        ArgumentNullException.ThrowIfNull(copies);
        if (ZeroPage.IsZero(page))
            throw new ArgumentException($"{frame} is all zero: add it with AddPage(frame, page) or AddZeroPages", nameof(page));
        AddNonZero(frame, page, fingerprint, copies, memory);
    }

    /// <summary><see cref="AddPage(PageFrameNumber, ReadOnlySpan{byte})"/> for a page the caller has already found not all zero
    /// (kds-capture tests pages as it reads them), so it is not scanned again. <paramref name="bulk"/>: the page is
    /// user, cache or free memory, compressed at <see cref="NativeDumpWriterOptions.BulkLevel"/> when most of its chunk is.</summary>
    internal void AddNonZero(PageFrameNumber frame, ReadOnlySpan<byte> page, bool bulk = false) => Add(frame, page, PageKind.Present, bulk);

    /// <summary>The copies overload of AddPage for a page the caller has already found not all zero.</summary>
    internal void AddNonZero(PageFrameNumber frame, ReadOnlySpan<byte> page, ulong fingerprint, DuplicatePageIndex copies, PhysicalMemory memory, bool bulk = false)
    {
        if (copies.TryFindCopy(fingerprint, page, memory, out PageFrameNumber source))
        {
            AddCopy(frame, source);
            return;
        }
        Add(frame, page, PageKind.Present, bulk);
        copies.Remember(frame, fingerprint);
    }

    /// <summary>Records <paramref name="count"/> pages from <paramref name="first"/> as read and found all zero:
    /// what <see cref="AddPage"/> does for a zero page, for a caller that tested the pages already (kds-capture
    /// tests them as it reads them). Pages of the span outside the RAM ranges are ignored.</summary>
    public void AddZeroPages(PageFrameNumber first, ulong count) => AddSpan(first, count, PageKind.Zero);

    /// <summary>Records <paramref name="count"/> pages from <paramref name="first"/> as filtered out for <paramref name="reason"/>.
    /// Pages of the span outside the RAM ranges are ignored.</summary>
    public void AddExcluded(PageFrameNumber first, ulong count, ExclusionReason reason) => AddSpan(first, count, PageKinds.Of(reason));

    /// <summary>Records <paramref name="count"/> pages from <paramref name="first"/> as unreadable by the capture (an I/O error on /proc/vmcore).</summary>
    public void AddReadError(PageFrameNumber first, ulong count) => AddSpan(first, count, PageKind.ReadError);

    /// <summary>
    /// Finishes the dump: RAM pages never described are recorded NotCaptured, then the timings, the page
    /// counts, why it is incomplete (<paramref name="incompleteReason"/>, or the pages never described),
    /// the index and the trailer are written and the stream flushed. The writer can do nothing after.
    /// </summary>
    public NativeWriteResult Complete(IReadOnlyList<CaptureTiming>? timings = null, string? incompleteReason = null)
    {
        CheckOpen();
        try
        {
            incompleteReason = Finish(timings, incompleteReason);
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
        _state = State.Completed;
        return new NativeWriteResult(_tally.ToPageCounts(), _chunks, _position, incompleteReason);
    }

    /// <summary>Waits for the chunks in flight and stops the compression threads. Without <see cref="Complete"/> the output is left as an incomplete
    /// dump, exactly as if the writer had been cut off. The stream is not closed.</summary>
    public void Dispose()
    {
        if (_state == State.Open)
            _state = State.Failed;
        _compressor.Dispose();
        Workers?.Dispose();
    }

    /// <summary>Writes everything after the pages; returns the reason the dump is incomplete, if it is.</summary>
    private string? Finish(IReadOnlyList<CaptureTiming>? timings, string? incompleteReason)
    {
        if (_frameRuns.Length > 0)
            FillNotCaptured(_frameRuns[^1].End);
        Close();
        _compressor.Drain();
        if (timings is { Count: > 0 })
            WriteSection(RecordType.TimingsSection, NativeSections.EncodeTimings(timings));
        WriteSection(RecordType.PageCountsSection, NativeSections.EncodePageCounts(_tally));
        if (incompleteReason is null && _firstNotCaptured is ulong missing)
            incompleteReason = $"{_tally[PageKind.NotCaptured]} RAM pages were never given to the writer (the first at pfn 0x{missing:x})";
        if (incompleteReason is not null)
            WriteSection(RecordType.IncompleteSection, Encoding.UTF8.GetBytes(incompleteReason));
        WriteIndexBlock();

        // The Index: every IndexBlock, then every section.
        byte[] index = new byte[BlockEntry.IndexHeaderSize + _blocks.Count * BlockEntry.Size + _sections.Count * SectionEntry.Size];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(index, (ulong)_blocks.Count);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(index.AsSpan(sizeof(ulong)), (ulong)_sections.Count);
        int at = BlockEntry.IndexHeaderSize;
        foreach (BlockEntry b in _blocks)
        {
            b.Write(index.AsSpan(at));
            at += BlockEntry.Size;
        }
        foreach (SectionEntry s in _sections)
        {
            s.Write(index.AsSpan(at));
            at += SectionEntry.Size;
        }
        long indexOffset = WriteRecord(RecordType.Index, 0, 0, index);

        var trailer = new NativeTrailer
        {
            IndexOffset = indexOffset,
            ChunkCount = (ulong)_chunks,
            FileLength = _position + NativeTrailer.RecordSize,
            DumpId = _dumpId,
            Flags = incompleteReason is null ? 0 : NativeTrailer.FlagIncomplete,
        };
        byte[] payload = new byte[NativeTrailer.Size];
        trailer.Write(payload);
        WriteRecord(RecordType.Trailer, 0, 0, payload);
        _output.Flush();
        return incompleteReason;
    }

    private void AddSpan(PageFrameNumber first, ulong count, PageKind kind)
    {
        CheckOpen();
        if (count == 0)
            return;
        ulong start = first.Value;
        ulong end = ulong.MaxValue - start < count ? ulong.MaxValue : start + count;
        CheckOrder(start);
        try
        {
            // Each RAM run the span overlaps gets its part; holes between runs are skipped.
            for (int i = _runIndex; i < _frameRuns.Length && _frameRuns[i].First < end; i++)
            {
                ulong from = Math.Max(start, _frameRuns[i].First), to = Math.Min(end, _frameRuns[i].End);
                if (from >= to)
                    continue;
                FillNotCaptured(from);
                Append(kind, to - from, default);
                SyncRunIndex();
            }
        }
        catch (Exception e) when (Fails(e))
        {
            throw;
        }
    }

    private void CheckOrder(ulong pfn)
    {
        if (pfn < _next)
            throw new ArgumentOutOfRangeException(nameof(pfn), $"pages must be added in ascending pfn order: pfn 0x{pfn:x} comes after pfn 0x{_next:x} was reached");
    }

    /// <summary>Records the RAM pages in [cursor, <paramref name="end"/>) as NotCaptured and moves the cursor there.</summary>
    private void FillNotCaptured(ulong end)
    {
        for (int i = _runIndex; i < _frameRuns.Length && _frameRuns[i].First < end; i++)
        {
            ulong from = Math.Max(_next, _frameRuns[i].First), to = Math.Min(end, _frameRuns[i].End);
            if (from >= to)
                continue;
            _firstNotCaptured ??= from;
            _next = from;
            Append(PageKind.NotCaptured, to - from, default);
        }
        _next = Math.Max(_next, end);
        SyncRunIndex();
    }

    /// <summary>Keeps <see cref="_runIndex"/> at the first RAM run that ends after the cursor.</summary>
    private void SyncRunIndex()
    {
        while (_runIndex < _frameRuns.Length && _frameRuns[_runIndex].End <= _next)
            _runIndex++;
    }

    /// <summary>
    /// Appends <paramref name="count"/> pages of <paramref name="kind"/> at the cursor (a RAM page, and the
    /// pages all in its RAM run), which then moves past them. A chunk closes at <see cref="NativeDumpWriterOptions.ChunkPages"/> present
    /// pages, <see cref="ChunkJob.MaxCopies"/> copies, <see cref="ChunkJob.MaxRuns"/> runs, <see cref="MaxChunkSpan"/> pfns, or where the pages
    /// stop being contiguous (a hole between RAM runs).
    /// </summary>
    private void Append(PageKind kind, ulong count, ReadOnlySpan<byte> page, ulong copySource = 0, bool bulk = false)
    {
        ulong pfn = _next;
        while (count > 0)
        {
            if (_current is not null && _current.EndPfn != pfn)
                Close();
            _current ??= _compressor.Take(pfn);
            ChunkJob c = _current;
            ulong take = Math.Min(Math.Min(count, MaxChunkSpan - (c.EndPfn - c.FirstPfn)), uint.MaxValue);
            if (kind == PageKind.Present)
            {
                take = 1;
                page.CopyTo(c.Raw.AsSpan(c.Present * NativeFormat.PageSize));
                c.Present++;
                if (bulk)
                    c.BulkPresent++;
            }
            else if (kind == PageKind.Copy)
            {
                take = 1;
                c.Copies.Add(copySource);
            }
            if (c.Runs.Count > 0 && c.Runs[^1].Kind == kind && c.Runs[^1].Pages + take <= uint.MaxValue)
                c.Runs[^1] = c.Runs[^1] with { Pages = c.Runs[^1].Pages + (uint)take };
            else
                c.Runs.Add(new PageRun((uint)take, kind));
            c.EndPfn += take;
            _tally.Add(kind, (long)take);
            pfn += take;
            count -= take;
            if (c.Present == _options.ChunkPages || c.Copies.Count == ChunkJob.MaxCopies || c.Runs.Count >= ChunkJob.MaxRuns || c.EndPfn - c.FirstPfn >= MaxChunkSpan)
                Close();
        }
        _next = pfn;
    }

    private void Close()
    {
        if (_current is null)
            return;
        ChunkJob job = _current;
        _current = null;
        _compressor.Submit(job);
    }

    /// <summary>Called by the compressor, in chunk order, on this thread.</summary>
    private void WriteChunk(ChunkJob job)
    {
        long offset = WriteRecord(RecordType.Chunk, job.FirstPfn, job.EndPfn, job.Payload.AsSpan(0, job.PayloadLength), job.PayloadCrc);
        _blockChunks.Add(new ChunkEntry(job.FirstPfn, job.EndPfn, offset));
        _chunks++;
        if (_blockChunks.Count == NativeFormat.MaxIndexBlockChunks)
            WriteIndexBlock();
    }

    private void WriteIndexBlock()
    {
        if (_blockChunks.Count == 0)
            return;
        byte[] payload = new byte[ChunkEntry.BlockHeaderSize + _blockChunks.Count * ChunkEntry.Size];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(payload, (ulong)_blockChunks.Count);
        for (int i = 0; i < _blockChunks.Count; i++)
            _blockChunks[i].Write(payload.AsSpan(ChunkEntry.BlockHeaderSize + i * ChunkEntry.Size));
        ulong first = _blockChunks[0].FirstPfn, end = _blockChunks[^1].EndPfn;
        long offset = WriteRecord(RecordType.IndexBlock, first, end, payload);
        _blocks.Add(new BlockEntry(first, end, offset, (ulong)_blockChunks.Count));
        _blockChunks.Clear();
        _output.Flush();
    }

    private void WriteSection(RecordType type, ReadOnlySpan<byte> payload)
    {
        long offset = WriteRecord(type, 0, 0, payload);
        _sections.Add(new SectionEntry(type, RecordFlags.None, offset, (ulong)payload.Length));
        _output.Flush();
    }

    /// <summary>Writes one record (header, payload, padding to 8) and returns its offset.</summary>
    private long WriteRecord(RecordType type, ulong arg0, ulong arg1, ReadOnlySpan<byte> payload, uint? payloadCrc = null)
    {
        long offset = _position;
        new RecordHeader(type, RecordFlags.None, (ulong)payload.Length, arg0, arg1, payloadCrc ?? Crc32C.Compute(payload)).Write(_recordHeader, _dumpId);
        Write(_recordHeader);
        Write(payload);
        int padding = (int)(NativeFormat.Align(_position) - _position);
        Span<byte> zeros = stackalloc byte[NativeFormat.RecordAlignment];
        zeros.Clear();
        Write(zeros[..padding]);
        return offset;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _output.Write(bytes);
        _position += bytes.Length;
    }

    private bool IsRam(ulong pfn)
    {
        foreach ((ulong first, ulong end) in _frameRuns.AsSpan(_runIndex))
        {
            if (pfn < first)
                return false;
            if (pfn < end)
                return true;
        }
        return false;
    }

    private static void CheckRanges(IReadOnlyList<PhysicalRange> ranges)
    {
        for (int i = 0; i < ranges.Count; i++)
            if (ranges[i].IsEmpty || (i > 0 && ranges[i].Start < ranges[i - 1].End))
                throw new ArgumentException($"RAM ranges must be non-empty, sorted and disjoint; range {i} {ranges[i]} is not", nameof(ranges));
    }

    private void CheckOpen()
    {
        if (_state != State.Open)
            throw new InvalidOperationException(_state == State.Completed
                ? "the dump is complete; nothing more can be written"
                : "the writer failed or was disposed; what it wrote is an incomplete dump");
    }

    /// <summary>An exception filter that fails the writer for good (the stream may hold half a record) and lets the exception pass.</summary>
    private bool Fails(Exception e)
    {
        _state = State.Failed;
        return false;
    }
}
