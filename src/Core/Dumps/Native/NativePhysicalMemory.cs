using KdumpSharp.Compression;
using KdumpSharp.IO;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Physical memory of a native dump, over its <see cref="ChunkIndex"/> (docs/format.md §7, page
/// states). The last few chunks read stay decoded, so a page-table walk or a sequential read decodes
/// each chunk once. One lock guards the index, the chunk cache and the codecs: reads from several
/// threads are safe and take turns.
/// </summary>
internal sealed class NativePhysicalMemory : PhysicalMemory, IDisposable
{
    private const int CachedChunks = 8;

    private readonly DumpSource _source;
    private readonly byte[] _dumpId;
    private readonly ChunkIndex _index;
    private readonly PhysicalRange[] _ranges;
    private readonly (ulong First, ulong End)[] _frameRuns;
    private readonly Lock _lock = new();
    private readonly LoadedChunk?[] _cache = new LoadedChunk?[CachedChunks];
    private readonly Dictionary<PageCompression, PageCodec> _codecs = [];
    private readonly Func<PageCompression, PageCodec> _codecFor;
    private int _nextSlot;

    public NativePhysicalMemory(DumpSource source, byte[] dumpId, ChunkIndex index, IReadOnlyList<PhysicalRange> ranges)
    {
        _source = source;
        _dumpId = dumpId;
        _index = index;
        _ranges = [.. ranges];
        _frameRuns = FrameRuns(_ranges);
        _codecFor = Codec;
    }

    public override IReadOnlyList<PhysicalRange> Ranges => _ranges;

    public long ChunkCount => _index.ChunkCount;

    /// <summary>The RAM page runs: every page the ranges touch, merged; a chunk never crosses the gap between two.</summary>
    public static (ulong First, ulong End)[] FrameRuns(IReadOnlyList<PhysicalRange> ranges)
    {
        var runs = new List<(ulong First, ulong End)>(ranges.Count);
        foreach (PhysicalRange r in ranges)
        {
            ulong first = r.Start.Frame.Value;
            ulong end = ((r.End.Value - 1) >> PageFrameNumber.PageShift) + 1;
            if (runs.Count > 0 && first <= runs[^1].End)
                runs[^1] = (runs[^1].First, Math.Max(runs[^1].End, end));
            else
                runs.Add((first, end));
        }
        return [.. runs];
    }

    public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination)
    {
        lock (_lock)
        {
            PageState state = Locate(frame.Value, out LoadedChunk? chunk, out PageKind kind, out int dataPage);
            if (state != PageState.Present)
                return state;
            if (kind == PageKind.Zero)
            {
                destination[..PageFrameNumber.PageSize].Clear();
                return PageState.Present;
            }
            if (kind == PageKind.Copy)
            {
                // The source is an earlier stored page; anything else there means the file is damaged.
                if (Locate(chunk!.CopySource(dataPage), out chunk, out kind, out dataPage) != PageState.Present || kind != PageKind.Present)
                    return PageState.Unreadable;
            }
            return chunk!.TryCopyPage(dataPage, destination, _codecFor) ? PageState.Present : PageState.Unreadable;
        }
    }

    /// <summary>The page's state from the chunk's runs, without decoding its data (a present page whose data
    /// turns out undecodable is Unreadable only to <see cref="ReadPage"/>).</summary>
    public override PageState GetPageState(PageFrameNumber frame)
    {
        lock (_lock)
            return Locate(frame.Value, out _, out _, out _);
    }

    /// <summary>Why a page is excluded, or null when it is not an excluded page.</summary>
    public ExclusionReason? ExclusionReasonOf(PageFrameNumber frame)
    {
        lock (_lock)
            return Locate(frame.Value, out _, out PageKind kind, out _) == PageState.Excluded ? PageKinds.ReasonOf(kind) : null;
    }

    private PageState Locate(ulong pfn, out LoadedChunk? chunk, out PageKind kind, out int dataPage)
    {
        chunk = null;
        kind = PageKind.NotCaptured;
        dataPage = 0;
        if (!InRam(pfn))
            return PageState.NotInDump;
        chunk = Cached(pfn);
        if (chunk is null)
        {
            switch (_index.Find(pfn, out ChunkEntry entry))
            {
                case ChunkIndex.Lookup.BlockDamaged:
                    return PageState.Unreadable;
                case ChunkIndex.Lookup.NotCovered:
                    // Below the last chunk, the chunk that held the page was damaged; past it, never written.
                    return pfn < _index.EndPfn ? PageState.Unreadable : PageState.Lost;
            }
            chunk = LoadedChunk.Load(_source, _dumpId, entry);
            _cache[_nextSlot] = chunk;
            _nextSlot = (_nextSlot + 1) % CachedChunks;
        }
        if (!chunk.IsValid)
            return PageState.Unreadable;
        kind = chunk.KindOf(pfn, out dataPage);
        return kind switch
        {
            PageKind.Present or PageKind.Zero or PageKind.Copy => PageState.Present,
            PageKind.NotCaptured => PageState.Lost,
            PageKind.ReadError => PageState.Unreadable,
            _ => PageState.Excluded,
        };
    }

    private LoadedChunk? Cached(ulong pfn)
    {
        foreach (LoadedChunk? c in _cache)
            if (c is not null && c.Covers(pfn))
                return c;
        return null;
    }

    private bool InRam(ulong pfn)
    {
        int lo = 0, hi = _frameRuns.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (pfn < _frameRuns[mid].First)
                hi = mid - 1;
            else if (pfn >= _frameRuns[mid].End)
                lo = mid + 1;
            else
                return true;
        }
        return false;
    }

    private PageCodec Codec(PageCompression kind)
    {
        if (!_codecs.TryGetValue(kind, out PageCodec? codec))
            _codecs[kind] = codec = PageCodec.Create(kind);
        return codec;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (PageCodec codec in _codecs.Values)
                codec.Dispose();
            _codecs.Clear();
        }
    }
}
