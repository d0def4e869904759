using KdumpSharp.Compression;
using KdumpSharp.IO;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// Physical memory of a kdump-compressed file. A page's descriptor index is its rank among the set
/// bits of the 2nd bitmap (counted from the file's first pfn for a split file). Reads are
/// serialised by one lock, which also guards the decoded-page cache and the codecs.
/// </summary>
internal sealed class KdumpPhysicalMemory : PhysicalMemory, IDisposable
{
    private const int BlockSize = PageFrameNumber.PageSize;

    private readonly DumpSource _source;
    private readonly KdumpBitmaps _bitmaps;
    private readonly ulong _start;
    private readonly ulong _end;
    private readonly long _firstIndex;
    private readonly long _descriptorsOffset;
    private readonly long _descriptorCount;
    private readonly long _dataOffset;
    private readonly Lock _lock = new();
    private readonly DecodedPageCache _cache = new(64);
    private readonly byte[] _compressed = new byte[BlockSize];
    private readonly Dictionary<DumpHeaderFlags, PageCodec> _codecs = [];

    public KdumpPhysicalMemory(DumpSource source, KdumpBitmaps bitmaps, List<PhysicalRange> ranges, ulong start, ulong end,
        long firstIndex, long descriptorsOffset, long descriptorCount)
    {
        _source = source;
        _bitmaps = bitmaps;
        Ranges = ranges;
        _start = start;
        _end = end;
        _firstIndex = firstIndex;
        _descriptorsOffset = descriptorsOffset;
        _descriptorCount = descriptorCount;
        _dataOffset = descriptorsOffset + descriptorCount * PageDescriptor.Length;
    }

    public override IReadOnlyList<PhysicalRange> Ranges { get; }

    public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination)
    {
        lock (_lock)
        {
            if (_cache.TryGet(frame.Value, destination))
                return PageState.Present;
            PageState state = Locate(frame.Value, out PageDescriptor pd);
            if (state != PageState.Present)
                return state;
            Span<byte> data = pd.Flags == DumpHeaderFlags.None ? destination : _compressed.AsSpan(0, (int)pd.Size);
            _source.ReadExactly(pd.Offset, data, "page data");
            if (pd.Flags != DumpHeaderFlags.None && !Codec(pd.Flags).TryDecompress(data, destination))
                return PageState.Unreadable;
            _cache.Add(frame.Value, destination);
            return PageState.Present;
        }
    }

    /// <summary>Classifies a page from the bitmaps and its descriptor without decoding the data.</summary>
    public override PageState GetPageState(PageFrameNumber frame)
    {
        lock (_lock)
            return Locate(frame.Value, out _);
    }

    /// <summary>
    /// Finds a page's descriptor. Present means the descriptor is sound and its data lies wholly in
    /// the file. A descriptor past the end of the file, or with offset 0 (makedumpfile writes
    /// descriptors and data in pairs, so an unwritten descriptor reads as zeros), or data past the
    /// end, is Lost; a size, flag or offset no writer produces is Unreadable.
    /// </summary>
    private PageState Locate(ulong pfn, out PageDescriptor pd)
    {
        pd = default;
        if (pfn < _start || pfn >= _end || !_bitmaps.IsPresent(pfn))
            return PageState.NotInDump;
        if (!_bitmaps.IsDumpable(pfn))
            return PageState.Excluded;
        long index = _bitmaps.Rank(pfn) - _firstIndex;
        long at = _descriptorsOffset + index * PageDescriptor.Length;
        Span<byte> bytes = stackalloc byte[PageDescriptor.Length];
        if (_source.ReadAt(at, bytes) != bytes.Length)
            return PageState.Lost;
        pd = PageDescriptor.Read(bytes);
        if (pd.Offset == 0)
            return PageState.Lost;
        if (!IsKnownCompression(pd.Flags) || pd.Size == 0 || pd.Size > BlockSize
            || (pd.Flags == DumpHeaderFlags.None && pd.Size != BlockSize) || pd.Offset < _dataOffset)
            return PageState.Unreadable;
        if (pd.Offset > _source.Length - pd.Size)
            return PageState.Lost;
        return PageState.Present;
    }

    /// <summary>
    /// Why the file looks cut short, from its end alone: the descriptor table must fit, and the last
    /// descriptor's data must too (makedumpfile writes page data in pfn order, so the last page's
    /// data ends the file; a zero-page descriptor points back to the start of the data instead,
    /// which still lies inside a whole file).
    /// </summary>
    public string? TruncationReason()
    {
        if (_descriptorCount == 0)
            return null;
        long descriptorsEnd = _dataOffset;
        if (descriptorsEnd > _source.Length)
            return $"the file ends at 0x{_source.Length:x}, inside the page descriptors (which end at 0x{descriptorsEnd:x})";
        Span<byte> bytes = stackalloc byte[PageDescriptor.Length];
        _source.ReadExactly(descriptorsEnd - PageDescriptor.Length, bytes, "the last page descriptor");
        PageDescriptor last = PageDescriptor.Read(bytes);
        if (last.Offset == 0)
            return "the last page descriptor was never written";
        if (last.Offset > _source.Length - last.Size)
            return $"the file ends at 0x{_source.Length:x}, inside the page data (the last page ends at 0x{last.Offset + last.Size:x})";
        return null;
    }

    private static bool IsKnownCompression(DumpHeaderFlags flags) => flags is DumpHeaderFlags.None
        or DumpHeaderFlags.CompressedZlib or DumpHeaderFlags.CompressedLzo or DumpHeaderFlags.CompressedSnappy or DumpHeaderFlags.CompressedZstd;

    private PageCodec Codec(DumpHeaderFlags flags)
    {
        if (!_codecs.TryGetValue(flags, out PageCodec? codec))
        {
            codec = PageCodec.Create(flags switch
            {
                DumpHeaderFlags.CompressedZlib => PageCompression.Zlib,
                DumpHeaderFlags.CompressedLzo => PageCompression.Lzo,
                DumpHeaderFlags.CompressedSnappy => PageCompression.Snappy,
                _ => PageCompression.Zstd,
            });
            _codecs[flags] = codec;
        }
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
