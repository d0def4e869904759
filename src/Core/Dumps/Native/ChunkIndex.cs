using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Where each chunk is, two levels deep (docs/format.md §5): a sorted list of blocks, each covering
/// the pfns of up to 4096 consecutive chunks. A block is either an IndexBlock record in the file,
/// read and checked against its CRC on first use and kept in a small cache, or (for chunks a
/// recovering reader found without one) entries held in memory. Memory is 32 bytes per 4096 chunks
/// plus the cache, whatever the size of the dump. Not thread-safe; the owner locks.
/// </summary>
internal sealed class ChunkIndex
{
    private const int CachedBlocks = 16;

    private readonly DumpSource _source;
    private readonly byte[] _dumpId;
    private readonly long _firstRecord;
    private readonly long _recordsEnd;
    private readonly Block[] _blocks;
    private readonly Block?[] _cache = new Block?[CachedBlocks];
    private int _nextCacheSlot;

    private ChunkIndex(DumpSource source, byte[] dumpId, long firstRecord, long recordsEnd, Block[] blocks)
    {
        _source = source;
        _dumpId = dumpId;
        _firstRecord = firstRecord;
        _recordsEnd = recordsEnd;
        _blocks = blocks;
        foreach (Block b in blocks)
            ChunkCount += b.Count;
    }

    public static ChunkIndex Empty(DumpSource source) => new(source, new byte[NativeFileHeader.DumpIdLength], 0, 0, []);

    public long ChunkCount { get; }

    /// <summary>One past the last pfn any chunk covers; 0 without chunks.</summary>
    public ulong EndPfn => _blocks.Length == 0 ? 0 : _blocks[^1].EndPfn;

    /// <summary>The chunk covering <paramref name="pfn"/>: Found, NotCovered (no chunk there), or BlockDamaged (its IndexBlock fails its checks).</summary>
    public Lookup Find(ulong pfn, out ChunkEntry entry)
    {
        entry = default;
        int b = Search(_blocks, pfn, static blk => blk.FirstPfn);
        if (b < 0 || pfn >= _blocks[b].EndPfn)
            return Lookup.NotCovered;
        ChunkEntry[]? entries = Entries(_blocks[b]);
        if (entries is null)
            return Lookup.BlockDamaged;
        int i = Search(entries, pfn, static e => e.FirstPfn);
        if (i < 0 || pfn >= entries[i].EndPfn)
            return Lookup.NotCovered;
        entry = entries[i];
        return Lookup.Found;
    }

    /// <summary>Every chunk in pfn order (loading each stored block once), skipping damaged blocks.</summary>
    public IEnumerable<ChunkEntry> All()
    {
        foreach (Block block in _blocks)
            if (Entries(block) is ChunkEntry[] entries)
                foreach (ChunkEntry e in entries)
                    yield return e;
    }

    public enum Lookup
    {
        Found,
        NotCovered,
        BlockDamaged,
    }

    /// <summary>Index of the last item whose key is at most <paramref name="pfn"/>, or -1.</summary>
    private static int Search<T>(T[] items, ulong pfn, Func<T, ulong> key)
    {
        int lo = 0, hi = items.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (key(items[mid]) <= pfn)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    private ChunkEntry[]? Entries(Block block)
    {
        if (block.Entries is not null || block.Damaged)
            return block.Entries;
        block.Entries = LoadBlock(block);
        if (block.Entries is null)
        {
            block.Damaged = true;
            return null;
        }
        // Evict round-robin; an evicted block is simply read again when next needed.
        if (_cache[_nextCacheSlot] is Block old)
            old.Entries = null;
        _cache[_nextCacheSlot] = block;
        _nextCacheSlot = (_nextCacheSlot + 1) % CachedBlocks;
        return block.Entries;
    }

    /// <summary>Reads an IndexBlock record and checks it: header and payload CRC, its span and count as
    /// the Index said, entries sorted, disjoint, inside that span and pointing into the records area.</summary>
    private ChunkEntry[]? LoadBlock(Block block)
    {
        byte[]? payload = NativeRecords.ReadPayload(_source, block.Offset, _dumpId, RecordType.IndexBlock,
            ChunkEntry.BlockHeaderSize + (long)NativeFormat.MaxIndexBlockChunks * ChunkEntry.Size, out RecordHeader header);
        if (payload is null || header.FirstPfn != block.FirstPfn || header.EndPfn != block.EndPfn)
            return null;
        return ParseBlock(payload, block.FirstPfn, block.EndPfn, block.Count, _firstRecord, _recordsEnd);
    }

    /// <summary>The entries of an IndexBlock payload, or null if they break any rule of docs/format.md §5.1.</summary>
    public static ChunkEntry[]? ParseBlock(ReadOnlySpan<byte> payload, ulong firstPfn, ulong endPfn, long expectedCount, long firstRecord, long recordsEnd)
    {
        if (payload.Length < ChunkEntry.BlockHeaderSize)
            return null;
        ulong count = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload);
        if (count == 0 || count > NativeFormat.MaxIndexBlockChunks || (long)count != expectedCount
            || payload.Length != ChunkEntry.BlockHeaderSize + (long)count * ChunkEntry.Size)
            return null;
        var entries = new ChunkEntry[count];
        ulong previousEnd = firstPfn;
        for (int i = 0; i < entries.Length; i++)
        {
            ChunkEntry e = ChunkEntry.Read(payload[(ChunkEntry.BlockHeaderSize + i * ChunkEntry.Size)..]);
            if (e.FirstPfn >= e.EndPfn || e.FirstPfn < previousEnd || e.EndPfn > endPfn
                || (i == 0 && e.FirstPfn != firstPfn) || e.Offset < firstRecord || e.Offset >= recordsEnd)
                return null;
            entries[i] = e;
            previousEnd = e.EndPfn;
        }
        return previousEnd == endPfn ? entries : null;
    }

    /// <summary>Collects blocks: stored IndexBlocks (from the Index, or adopted while scanning) and chunks kept in memory.</summary>
    internal sealed class Builder(DumpSource source, byte[] dumpId, long firstRecord)
    {
        private readonly List<Block> _blocks = [];
        private readonly List<ChunkEntry> _pending = [];

        /// <summary>One past the last pfn added so far.</summary>
        public ulong EndPfn => _pending.Count > 0 ? _pending[^1].EndPfn : _blocks.Count > 0 ? _blocks[^1].EndPfn : 0;

        public int PendingCount => _pending.Count;

        /// <summary>Chunks added so far, stored or pending.</summary>
        public long ChunkCount => _blocks.Sum(b => b.Count) + _pending.Count;

        /// <summary>Adds an IndexBlock the Index lists; it is read and checked when first used.</summary>
        public void AddStored(BlockEntry block) =>
            _blocks.Add(new Block(block.FirstPfn, block.EndPfn, block.Offset, (long)block.ChunkCount, null));

        /// <summary>Adds a chunk found by scanning; the caller has checked it starts at or after <see cref="EndPfn"/>.</summary>
        public void AddChunk(ChunkEntry chunk) => _pending.Add(chunk);

        /// <summary>
        /// An IndexBlock met while scanning replaces the chunks kept in memory when it lists exactly
        /// them (same spans, same offsets); otherwise (a chunk before it was damaged) they stay.
        /// </summary>
        public void OfferStored(long offset, in RecordHeader header, ReadOnlySpan<byte> payload, long recordsEnd)
        {
            if (_pending.Count == 0 || header.FirstPfn != _pending[0].FirstPfn || header.EndPfn != _pending[^1].EndPfn)
                return;
            ChunkEntry[]? listed = ParseBlock(payload, header.FirstPfn, header.EndPfn, _pending.Count, firstRecord, recordsEnd);
            if (listed is null || !listed.AsSpan().SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)))
                return;
            _blocks.Add(new Block(header.FirstPfn, header.EndPfn, offset, _pending.Count, null));
            _pending.Clear();
        }

        public ChunkIndex Build(long recordsEnd)
        {
            if (_pending.Count > 0)
            {
                _blocks.Add(new Block(_pending[0].FirstPfn, _pending[^1].EndPfn, -1, _pending.Count, [.. _pending]));
                _pending.Clear();
            }
            return new ChunkIndex(source, dumpId, firstRecord, recordsEnd, [.. _blocks]);
        }
    }

    /// <summary>A block of chunks. <see cref="Offset"/> is -1 for chunks kept in memory, whose entries are never evicted.</summary>
    private sealed class Block(ulong firstPfn, ulong endPfn, long offset, long count, ChunkEntry[]? entries)
    {
        public ulong FirstPfn { get; } = firstPfn;
        public ulong EndPfn { get; } = endPfn;
        public long Offset { get; } = offset;
        public long Count { get; } = count;
        public ChunkEntry[]? Entries { get; set; } = entries;
        public bool Damaged { get; set; }
    }
}
