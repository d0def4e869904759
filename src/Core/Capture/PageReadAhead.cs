using System.Runtime.InteropServices;
using System.Runtime.ExceptionServices;
using KdumpSharp.Dumps.Native;
using KdumpSharp.Filtering;
using KdumpSharp.Interop;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Threading;

namespace KdumpSharp.Capture;

/// <summary>Consecutive pages of one RAM run, read with one request and tested for zero (and fingerprinted) by
/// whichever thread runs it.</summary>
internal sealed unsafe class PageBatch : PoolWork
{
    private readonly PhysicalMemory _memory;
    private readonly FileReadSource _file;
    private readonly bool _map;
    private byte* _mapped;

    /// <param name="memory">The memory to read, from <paramref name="file"/>.</param>
    /// <param name="map">Map pages from the file (<see cref="CaptureOptions.Mmap"/>) instead of reading them.</param>
    /// <param name="fingerprint">Whether to fingerprint each present non-zero page (<see cref="Fingerprints"/>).</param>
    public PageBatch(int pages, PhysicalMemory memory, FileReadSource file, bool map, bool fingerprint)
    {
        _memory = memory;
        _file = file;
        _map = map;
        Data = new byte[pages * PageFrameNumber.PageSize];
        States = new PageState[pages];
        Zero = new bool[pages];
        Fingerprints = fingerprint ? new ulong[pages] : [];
    }

    public byte[] Data { get; }
    public PageState[] States { get; }

    /// <summary>Zero[i]: page i is present and every byte of it is zero.</summary>
    public bool[] Zero { get; }

    /// <summary>Fingerprints[i]: <see cref="DuplicatePageIndex.Fingerprint"/> of page i when it is present and not zero
    /// (empty when the batch was made without fingerprints).</summary>
    public ulong[] Fingerprints { get; }

    public PageFrameNumber First { get; private set; }
    public int Count { get; private set; }

    public void Reset(PageFrameNumber first, int count)
    {
        First = first;
        Count = count;
    }

    public ReadOnlySpan<byte> Page(int index) => _mapped is not null
        ? new ReadOnlySpan<byte>(_mapped + index * PageFrameNumber.PageSize, PageFrameNumber.PageSize)
        : Data.AsSpan(index * PageFrameNumber.PageSize, PageFrameNumber.PageSize);

    /// <summary>
    /// Reads the pages: none when they lie whole in a hole of the file (they are zero pages); mapped from it
    /// when mapping and they lie whole in it at a page-aligned offset (mmap's rule); else copied with
    /// <see cref="PhysicalMemory.ReadPages"/>.
    /// </summary>
    protected override void Execute()
    {
        bool hasExtent = _memory.TryGetFileExtent(First, Count, out long offset);
        if (hasExtent && IsHole(_file, offset))
        {
            PageStates.MarkPresent(States.AsSpan(0, Count));
            // A loop, not Span.Fill: Fill is vectorized with Vector<T>, whose width is known only at run
            // time, so kds-capture JIT-compiled it at every start.
            for (int i = 0; i < Count; i++)
                Zero[i] = true;
            return;
        }
        if (_map && hasExtent && TryMap(_file, offset))
        {
            TestZero(0, Count);
            return;
        }
        // A slice at a time, tested for zero while the copy is still in the cache: testing the whole
        // 1 MiB batch after reading it cost as much again as the read (memory-bound) at level 1.
        for (int from = 0; from < Count; from += ReadSlicePages)
        {
            int n = Math.Min(ReadSlicePages, Count - from);
            _memory.ReadPages(First + (ulong)from, n, Data.AsSpan(from * PageFrameNumber.PageSize, n * PageFrameNumber.PageSize), States.AsSpan(from, n));
            TestZero(from, n);
        }
    }

    /// <summary>Pages per read on the copying path: 128 KiB, well inside the L2 cache.</summary>
    private const int ReadSlicePages = 32;

    /// <summary>Tests pages for zero, and fingerprints the others, while they are still in the cache.</summary>
    private void TestZero(int from, int count)
    {
        for (int i = from; i < from + count; i++)
        {
            Zero[i] = States[i] == PageState.Present && ZeroPage.IsZero(Page(i));
            if (Fingerprints.Length != 0 && !Zero[i] && States[i] == PageState.Present)
                Fingerprints[i] = DuplicatePageIndex.Fingerprint(Page(i));
        }
    }

    /// <summary>Gives the mapping back, so the pages read stop counting toward the process's memory.</summary>
    public void Unmap()
    {
        if (_mapped is null)
            return;
        LibC.Munmap(_mapped, (nuint)(Count * PageFrameNumber.PageSize));
        _mapped = null;
    }

    /// <summary>
    /// Whether the batch's bytes at <paramref name="offset"/> are all a hole of a sparse vmcore file, by
    /// lseek(SEEK_DATA): a hole reads as zeros, so there is nothing to read or test. File systems without
    /// SEEK_DATA, and /proc/vmcore, report everything as data (fs/read_write.c: default_llseek, generic_file_llseek_size).
    /// </summary>
    private bool IsHole(FileReadSource file, long offset)
    {
        long data = LibC.Lseek((int)file.Handle.DangerousGetHandle(), offset, LibC.SEEK_DATA);
        if (data >= 0)
            return data >= offset + (long)Count * PageFrameNumber.PageSize;
        return Marshal.GetLastPInvokeError() == LibC.ENXIO;
    }

    private bool TryMap(FileReadSource source, long offset)
    {
        if (offset % PageFrameNumber.PageSize != 0)
            return false;
        // MAP_POPULATE: one call maps the whole batch, instead of a page fault per 16 pages.
        void* p = LibC.Mmap(null, (nuint)(Count * PageFrameNumber.PageSize), LibC.PROT_READ, LibC.MAP_SHARED | LibC.MAP_POPULATE,
            (int)source.Handle.DangerousGetHandle(), offset);
        if (p == LibC.MapFailed)
            return false;
        _mapped = (byte*)p;
        PageStates.MarkPresent(States.AsSpan(0, Count));
        return true;
    }
}

/// <summary>
/// Reads the pages a capture keeps ahead of the writer, in batches of <see cref="BatchPages"/>, as work
/// for the capture's <see cref="WorkerPool"/> (or on the caller's thread, when it submits, without one);
/// the caller takes them back in the order it asked for them. Reading /proc/vmcore costs a copy of every
/// byte, and testing a page for zero a pass over it: both scale with the threads, while the writer's
/// thread only appends. At most <see cref="Capacity"/> batches exist (2 per thread that can run work, at most
/// 8; 1 without a pool), so memory is bounded whatever the dump's size: 1 MiB per batch.
/// </summary>
internal sealed class PageReadAhead : IDisposable
{
    /// <summary>Pages per read: 1 MiB, large enough that a system call per batch costs nothing, small enough to keep every thread busy.</summary>
    public const int BatchPages = 256;

    private readonly PhysicalMemory _memory;
    private readonly FileReadSource _file;
    private readonly bool _map;
    private readonly bool _fingerprint;
    private readonly WorkerPool? _pool;
    private readonly Queue<PageBatch> _inFlight = new();
    private readonly Stack<PageBatch> _free = new();

    /// <param name="pool">The threads that read; null reads on the caller's thread, when it submits.</param>
    /// <param name="file">The vmcore <paramref name="memory"/> reads.</param>
    /// <param name="map">Map pages from it (<see cref="CaptureOptions.Mmap"/>) instead of reading them.</param>
    /// <param name="fingerprint">Fingerprint the non-zero pages too, for <see cref="DuplicatePageIndex"/>.</param>
    public PageReadAhead(PhysicalMemory memory, WorkerPool? pool, FileReadSource file, bool map, bool fingerprint)
    {
        _memory = memory;
        _file = file;
        _map = map;
        _fingerprint = fingerprint;
        _pool = pool;
        Capacity = pool is null ? 1 : Math.Min(2 * pool.Concurrency, MaxBatches);
    }

    /// <summary>Batches at most whatever the threads: past a few threads, reading is bound by memory bandwidth, not CPU.</summary>
    private const int MaxBatches = 8;

    /// <summary>Most batches alive at once.</summary>
    public int Capacity { get; }

    /// <summary>Whether <see cref="Submit"/> would start a read without waiting.</summary>
    public bool CanSubmit => _inFlight.Count < Capacity;

    /// <summary>Starts reading <paramref name="count"/> (at most <see cref="BatchPages"/>) pages from <paramref name="first"/>.</summary>
    public void Submit(PageFrameNumber first, int count)
    {
        if (!CanSubmit)
            throw new InvalidOperationException("every batch is in flight; take one back first");
        PageBatch batch = _free.Count > 0 ? _free.Pop() : new PageBatch(BatchPages, _memory, _file, _map, _fingerprint);
        batch.Reset(first, count);
        _inFlight.Enqueue(batch);
        if (_pool is null)
        {
            batch.Arm();
            batch.Run();
        }
        else
        {
            _pool.Post(batch);
        }
    }

    /// <summary>The oldest batch, once read; give it back with <see cref="Release"/> when done with it.</summary>
    public PageBatch Take()
    {
        PageBatch batch = _inFlight.Dequeue();
        _pool?.HelpUntil(batch);
        if (batch.Error is Exception e)
        {
            Release(batch);
            // The reader's own exception (a corrupt dump's DumpFormatException), as if the caller had read.
            ExceptionDispatchInfo.Capture(e).Throw();
        }
        return batch;
    }

    public void Release(PageBatch batch)
    {
        batch.Unmap();
        _free.Push(batch);
    }

    /// <summary>Waits for the reads still in flight, so no thread touches a batch after this.</summary>
    public void Dispose()
    {
        foreach (PageBatch batch in _inFlight)
        {
            _pool?.HelpUntil(batch);
            batch.Unmap();
        }
        _inFlight.Clear();
    }
}
