using KdumpSharp.Compression;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// One chunk read from the file and checked (docs/format.md §4): its runs, turned into a table a
/// pfn is looked up in by binary search, and its stored data, decoded on the first read of a
/// present page. A chunk that fails any check is kept too, as <see cref="IsValid"/> false, so its
/// pages read as unreadable without the file being read again.
/// </summary>
internal sealed class LoadedChunk
{
    private readonly uint[] _runStarts;
    private readonly PageKind[] _kinds;
    // For a Present run, the index of its first page in the data; for a Copy run, in the copy table.
    private readonly int[] _firstIndex;
    private readonly ulong[] _copySources;
    private readonly byte[]? _payload;
    private readonly int _dataOffset;
    private readonly int _storedLength;
    private byte[]? _decoded;
    private bool _decodeFailed;

    private LoadedChunk(ChunkEntry entry, uint[] runStarts, PageKind[] kinds, int[] firstIndex, ulong[] copySources, byte[]? payload,
        int dataOffset, int storedLength, ushort codec, int presentPages)
    {
        Entry = entry;
        _runStarts = runStarts;
        _kinds = kinds;
        _firstIndex = firstIndex;
        _copySources = copySources;
        _payload = payload;
        _dataOffset = dataOffset;
        _storedLength = storedLength;
        Codec = codec;
        PresentPages = presentPages;
    }

    public ChunkEntry Entry { get; }
    public bool IsValid => _payload is not null;
    public ushort Codec { get; }
    public int PresentPages { get; }

    public bool Covers(ulong pfn) => pfn >= Entry.FirstPfn && pfn < Entry.EndPfn;

    private static LoadedChunk Invalid(ChunkEntry entry) => new(entry, [], [], [], [], null, 0, 0, 0, 0);

    /// <summary>
    /// Reads the chunk record at <paramref name="entry"/>'s offset. It is valid only if its header
    /// checks out and names the same span, its payload checks out against its CRC, its runs add up to
    /// the span with known kinds, every copy names an earlier pfn, and the counts and lengths agree.
    /// </summary>
    public static LoadedChunk Load(DumpSource source, ReadOnlySpan<byte> dumpId, ChunkEntry entry)
    {
        const long MaxPayload = ChunkHeader.Size + (long)NativeFormat.MaxChunkRuns * PageRun.Size
            + (long)NativeFormat.MaxChunkCopies * ChunkHeader.CopyEntrySize + (long)NativeFormat.MaxChunkPages * NativeFormat.PageSize;
        byte[]? payload = NativeRecords.ReadPayload(source, entry.Offset, dumpId, RecordType.Chunk, MaxPayload, out RecordHeader header);
        if (payload is null || header.FirstPfn != entry.FirstPfn || header.EndPfn != entry.EndPfn || payload.Length < ChunkHeader.Size)
            return Invalid(entry);
        ChunkHeader ch = ChunkHeader.Read(payload);
        if (ch.RunCount == 0 || ch.RunCount > NativeFormat.MaxChunkRuns || ch.PresentPages > NativeFormat.MaxChunkPages
            || ch.CopyPages > NativeFormat.MaxChunkCopies
            || ch.PayloadLength != payload.Length
            || (ch.Codec == 0 && ch.StoredLength != (long)ch.PresentPages * NativeFormat.PageSize))
            return Invalid(entry);
        int runs = (int)ch.RunCount;
        var starts = new uint[runs];
        var kinds = new PageKind[runs];
        var firstIndex = new int[runs];
        var copySources = new ulong[ch.CopyPages];
        ulong span = entry.EndPfn - entry.FirstPfn, covered = 0;
        if (span > uint.MaxValue)
            return Invalid(entry);
        int present = 0, copies = 0;
        int copyTable = ChunkHeader.Size + (int)ch.RunsLength;
        for (int i = 0; i < runs; i++)
        {
            PageRun run = PageRun.Read(payload.AsSpan(ChunkHeader.Size + i * PageRun.Size));
            if (run.Pages == 0 || !PageKinds.IsValid(run.Kind) || covered + run.Pages > span)
                return Invalid(entry);
            starts[i] = (uint)covered;
            kinds[i] = run.Kind;
            if (run.Kind == PageKind.Present)
            {
                firstIndex[i] = present;
                present += (int)Math.Min(run.Pages, (uint)NativeFormat.MaxChunkPages + 1);
                if (present > NativeFormat.MaxChunkPages)
                    return Invalid(entry);
            }
            else if (run.Kind == PageKind.Copy)
            {
                firstIndex[i] = copies;
                if (run.Pages > copySources.Length - copies)
                    return Invalid(entry);
                for (uint k = 0; k < run.Pages; k++, copies++)
                {
                    // A copy repeats an earlier page, so resolving one never loops.
                    copySources[copies] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(copyTable + copies * ChunkHeader.CopyEntrySize));
                    if (copySources[copies] >= entry.FirstPfn + covered + k)
                        return Invalid(entry);
                }
            }
            covered += run.Pages;
        }
        if (covered != span || present != ch.PresentPages || copies != ch.CopyPages)
            return Invalid(entry);
        return new LoadedChunk(entry, starts, kinds, firstIndex, copySources, payload, (int)ch.DataOffset, (int)ch.StoredLength, ch.Codec, present);
    }

    /// <summary>The kind of <paramref name="pfn"/> (inside the span) and, for a present page, its index in the data
    /// (for a copy, in the copy table: see <see cref="CopySource"/>).</summary>
    public PageKind KindOf(ulong pfn, out int dataPage)
    {
        uint offset = (uint)(pfn - Entry.FirstPfn);
        int lo = 0, hi = _runStarts.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (_runStarts[mid] <= offset)
                lo = mid;
            else
                hi = mid - 1;
        }
        dataPage = _firstIndex[lo] + (int)(offset - _runStarts[lo]);
        return _kinds[lo];
    }

    /// <summary>The earlier pfn whose bytes copy <paramref name="copyIndex"/> (from <see cref="KindOf"/>) repeats.</summary>
    public ulong CopySource(int copyIndex) => _copySources[copyIndex];

    /// <summary>Copies present page <paramref name="dataPage"/> out, decoding the chunk first if needed; false if it cannot be decoded.</summary>
    public bool TryCopyPage(int dataPage, Span<byte> destination, Func<PageCompression, PageCodec> codecs)
    {
        ReadOnlySpan<byte> stored = _payload.AsSpan(_dataOffset, _storedLength);
        if (Codec == 0)
        {
            stored.Slice(dataPage * NativeFormat.PageSize, NativeFormat.PageSize).CopyTo(destination);
            return true;
        }
        if (_decoded is null && !_decodeFailed)
        {
            var decoded = new byte[PresentPages * NativeFormat.PageSize];
            if (NativeFormat.Compression(Codec) is PageCompression kind && codecs(kind).TryDecompress(stored, decoded))
                _decoded = decoded;
            else
                _decodeFailed = true;
        }
        if (_decoded is null)
            return false;
        _decoded.AsSpan(dataPage * NativeFormat.PageSize, NativeFormat.PageSize).CopyTo(destination);
        return true;
    }
}
