using System.Collections.Concurrent;
using KdumpSharp.Compression;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>A chunk being filled by the writer, then compressed and checksummed into its record payload.</summary>
internal sealed class ChunkJob(int chunkPages)
{
    /// <summary>Runs the writer puts in one chunk at most (32 KiB of them); the format allows 65536.</summary>
    public const int MaxRuns = 4096;

    /// <summary>Copy pages the writer puts in one chunk at most (2 KiB of copy table); the format allows <see cref="NativeFormat.MaxChunkCopies"/>.</summary>
    public const int MaxCopies = 256;

    public byte[] Raw { get; } = new byte[chunkPages * NativeFormat.PageSize];
    public List<PageRun> Runs { get; } = [];

    /// <summary>The source pfn of each Copy page, in pfn order.</summary>
    public List<ulong> Copies { get; } = [];
    public byte[] Payload { get; private set; } = [];
    public int PayloadLength { get; private set; }
    public uint PayloadCrc { get; private set; }
    public ulong FirstPfn { get; set; }
    public ulong EndPfn { get; set; }
    public int Present { get; set; }

    /// <summary>Present pages the writer was told are bulk memory (user, cache, free).</summary>
    public int BulkPresent { get; set; }
    public Exception? Error { get; set; }
    public ManualResetEventSlim Done { get; } = new();

    public void Reset(ulong firstPfn)
    {
        Runs.Clear();
        Copies.Clear();
        FirstPfn = EndPfn = firstPfn;
        Present = 0;
        BulkPresent = 0;
        Error = null;
        Done.Reset();
    }

    /// <summary>Builds the Chunk payload (docs/format.md §4.1): runs, copy table, then the data compressed as
    /// one block when that makes it smaller, else stored raw with codec 0; then its CRC. A chunk whose
    /// stored pages are mostly bulk memory is compressed with <paramref name="bulkCodec"/> (the same codec
    /// at a faster level: readers need not know).</summary>
    public void Compress(PageCodec codec, PageCodec bulkCodec, ushort codecId)
    {
        if (2 * BulkPresent > Present)
            codec = bulkCodec;
        int tablesOffset = ChunkHeader.Size + Runs.Count * PageRun.Size;
        int dataOffset = tablesOffset + Copies.Count * ChunkHeader.CopyEntrySize;
        int rawLength = Present * NativeFormat.PageSize;
        if (Payload.Length < dataOffset + rawLength)
            Payload = new byte[ChunkHeader.Size + MaxRuns * PageRun.Size + MaxCopies * ChunkHeader.CopyEntrySize + Raw.Length];
        Span<byte> data = Payload.AsSpan(dataOffset, rawLength);
        int stored;
        if (codecId != 0 && rawLength > 0 && codec.TryCompress(Raw.AsSpan(0, rawLength), data, out int written))
        {
            stored = written;
        }
        else
        {
            Raw.AsSpan(0, rawLength).CopyTo(data);
            stored = rawLength;
            codecId = 0;
        }
        new ChunkHeader(codecId, (ushort)Copies.Count, (uint)Runs.Count, (uint)Present, (uint)stored).Write(Payload);
        for (int i = 0; i < Runs.Count; i++)
            Runs[i].Write(Payload.AsSpan(ChunkHeader.Size + i * PageRun.Size));
        for (int i = 0; i < Copies.Count; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(Payload.AsSpan(tablesOffset + i * ChunkHeader.CopyEntrySize), Copies[i]);
        PayloadLength = dataOffset + stored;
        PayloadCrc = Crc32C.Compute(Payload.AsSpan(0, PayloadLength));
    }
}

/// <summary>
/// Compresses closed chunks on worker threads and hands them back in the order they were closed.
/// The caller's thread fills chunks and writes finished ones; <see cref="Capacity"/> chunk buffers
/// exist at most (2 per worker, plus the one being filled), so memory is bounded whatever the dump's
/// size: when all are busy, taking a fresh one waits for the oldest to finish and writes it.
/// With one worker nothing is threaded: chunks are compressed and written as they close.
/// </summary>
internal sealed class ChunkCompressor : IDisposable
{
    private readonly int _chunkPages;
    private readonly ushort _codecId;
    private readonly PageCodec[] _codecs;
    private readonly PageCodec[] _bulkCodecs;
    private readonly Action<ChunkJob> _write;
    private readonly Thread[] _threads;
    private readonly BlockingCollection<ChunkJob> _todo = [];
    private readonly Queue<ChunkJob> _inFlight = new();
    private readonly Stack<ChunkJob> _free = new();
    private int _allocated;

    /// <param name="write">Writes a compressed chunk; called on the caller's thread, in order.</param>
    /// <param name="level">The codec's speed/size knob (<see cref="PageCodec.Create"/>); null for its default.</param>
    /// <param name="bulkLevel">The knob for chunks of mostly bulk memory (<see cref="ChunkJob.BulkPresent"/>).</param>
    public ChunkCompressor(PageCompression compression, int? level, int? bulkLevel, int chunkPages, int workers, Action<ChunkJob> write)
    {
        _chunkPages = chunkPages;
        _codecId = NativeFormat.CodecId(compression);
        _write = write;
        // Codecs are made here, so a missing library fails the constructor, not a worker.
        _codecs = new PageCodec[workers];
        _bulkCodecs = new PageCodec[workers];
        for (int i = 0; i < workers; i++)
        {
            _codecs[i] = PageCodec.Create(compression, level);
            _bulkCodecs[i] = bulkLevel == level ? _codecs[i] : PageCodec.Create(compression, bulkLevel);
        }
        Capacity = workers == 1 ? 1 : 2 * workers + 1;
        _threads = workers == 1 ? [] : new Thread[workers];
        for (int i = 0; i < _threads.Length; i++)
        {
            PageCodec codec = _codecs[i], bulkCodec = _bulkCodecs[i];
            _threads[i] = new Thread(() => Work(codec, bulkCodec)) { IsBackground = true, Name = $"kds-compress-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Most chunk buffers alive at once.</summary>
    public int Capacity { get; }

    /// <summary>A chunk buffer to fill; may first wait for and write the oldest chunk in flight.</summary>
    public ChunkJob Take(ulong firstPfn)
    {
        if (_free.Count == 0 && _allocated == Capacity)
            WriteOldest();
        ChunkJob job;
        if (_free.Count > 0)
        {
            job = _free.Pop();
        }
        else
        {
            job = new ChunkJob(_chunkPages);
            _allocated++;
        }
        job.Reset(firstPfn);
        return job;
    }

    /// <summary>Hands over a filled chunk: compressed now (one worker) or by a worker thread.</summary>
    public void Submit(ChunkJob job)
    {
        if (_threads.Length == 0)
        {
            job.Compress(_codecs[0], _bulkCodecs[0], _codecId);
            _free.Push(job);
            _write(job);
            return;
        }
        _inFlight.Enqueue(job);
        _todo.Add(job);
    }

    /// <summary>Waits for every chunk in flight and writes them, in order.</summary>
    public void Drain()
    {
        while (_inFlight.Count > 0)
            WriteOldest();
    }

    private void WriteOldest()
    {
        ChunkJob job = _inFlight.Dequeue();
        job.Done.Wait();
        _free.Push(job);
        if (job.Error is Exception e)
            throw new InvalidOperationException($"compressing the chunk at pfn 0x{job.FirstPfn:x} failed: {e.Message}", e);
        _write(job);
    }

    private void Work(PageCodec codec, PageCodec bulkCodec)
    {
        foreach (ChunkJob job in _todo.GetConsumingEnumerable())
        {
            try
            {
                job.Compress(codec, bulkCodec, _codecId);
            }
            catch (Exception e)
            {
                job.Error = e;
            }
            finally
            {
                job.Done.Set();
            }
        }
    }

    public void Dispose()
    {
        _todo.CompleteAdding();
        foreach (Thread t in _threads)
            t.Join();
        foreach (PageCodec codec in _codecs.Concat(_bulkCodecs).Distinct())
            codec.Dispose();
        _todo.Dispose();
    }
}
