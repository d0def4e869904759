using KdumpSharp.Compression;
using KdumpSharp.IO;
using KdumpSharp.Threading;

namespace KdumpSharp.Dumps.Native;

/// <summary>A chunk being filled by the writer, then compressed and checksummed into its record payload.</summary>
internal sealed class ChunkJob(int chunkPages, ChunkCompressor owner) : PoolWork
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

    public void Reset(ulong firstPfn)
    {
        Runs.Clear();
        Copies.Clear();
        FirstPfn = EndPfn = firstPfn;
        Present = 0;
        BulkPresent = 0;
    }

    protected override void Execute() => owner.Compress(this);

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
/// Compresses closed chunks as work for a <see cref="WorkerPool"/> and hands them back in the order they
/// were closed. The caller's thread fills chunks and writes finished ones; <see cref="Capacity"/> chunk
/// buffers exist at most (2 per thread of the pool, plus the one being filled), so memory is bounded
/// whatever the dump's size: when all are busy, taking a fresh one waits for the oldest to finish (running
/// queued work meanwhile) and writes it. Without a pool nothing is threaded: chunks are compressed and
/// written as they close.
/// </summary>
internal sealed class ChunkCompressor : IDisposable
{
    private readonly int _chunkPages;
    private readonly ushort _codecId;
    private readonly Action<ChunkJob> _write;
    private readonly WorkerPool? _pool;
    private readonly List<PageCodec> _allCodecs = [];
    private readonly Stack<(PageCodec Codec, PageCodec Bulk)> _codecs = new();
    private readonly Queue<ChunkJob> _inFlight = new();
    private readonly Stack<ChunkJob> _free = new();
    private int _allocated;

    /// <param name="write">Writes a compressed chunk; called on the caller's thread, in order.</param>
    /// <param name="level">The codec's speed/size knob (<see cref="PageCodec.Create"/>); null for its default.</param>
    /// <param name="bulkLevel">The knob for chunks of mostly bulk memory (<see cref="ChunkJob.BulkPresent"/>).</param>
    /// <param name="pool">The threads that compress; null compresses on the caller's thread.</param>
    public ChunkCompressor(PageCompression compression, int? level, int? bulkLevel, int chunkPages, WorkerPool? pool, Action<ChunkJob> write)
    {
        _chunkPages = chunkPages;
        _codecId = NativeFormat.CodecId(compression);
        _write = write;
        _pool = pool;
        // One codec (state) per thread that can compress at once, made here, so a missing library fails the
        // constructor, not a worker.
        int threads = pool?.Concurrency ?? 1;
        try
        {
            for (int i = 0; i < threads; i++)
            {
                PageCodec codec = PageCodec.Create(compression, level);
                _allCodecs.Add(codec);
                PageCodec bulk = codec;
                if (bulkLevel != level)
                {
                    bulk = PageCodec.Create(compression, bulkLevel);
                    _allCodecs.Add(bulk);
                }
                _codecs.Push((codec, bulk));
            }
        }
        catch
        {
            DisposeCodecs();
            throw;
        }
        Capacity = pool is null ? 1 : 2 * threads + 1;
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
            job = new ChunkJob(_chunkPages, this);
            _allocated++;
        }
        job.Reset(firstPfn);
        return job;
    }

    /// <summary>Hands over a filled chunk: compressed now (no pool) or by the pool.</summary>
    public void Submit(ChunkJob job)
    {
        if (_pool is null)
        {
            Compress(job);
            _free.Push(job);
            _write(job);
            return;
        }
        _inFlight.Enqueue(job);
        _pool.Post(job);
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
        _pool?.HelpUntil(job);
        _free.Push(job);
        if (job.Error is Exception e)
            throw new InvalidOperationException($"compressing the chunk at pfn 0x{job.FirstPfn:x} failed: {e.Message}", e);
        _write(job);
    }

    /// <summary>Compresses a job with a codec no other thread is using.</summary>
    internal void Compress(ChunkJob job)
    {
        (PageCodec Codec, PageCodec Bulk) codecs;
        lock (_codecs)
            codecs = _codecs.Pop();
        try
        {
            job.Compress(codecs.Codec, codecs.Bulk, _codecId);
        }
        finally
        {
            lock (_codecs)
                _codecs.Push(codecs);
        }
    }

    /// <summary>Waits for the chunks still in flight (without writing them), then frees the codecs.</summary>
    public void Dispose()
    {
        foreach (ChunkJob job in _inFlight)
            _pool?.HelpUntil(job);
        _inFlight.Clear();
        DisposeCodecs();
    }

    private void DisposeCodecs()
    {
        foreach (PageCodec codec in _allCodecs)
            codec.Dispose();
        _allCodecs.Clear();
    }
}
