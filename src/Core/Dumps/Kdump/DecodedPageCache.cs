using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// The last few decoded pages, evicted round-robin (as crash's diskdump page cache does). Page-table
/// walks touch the same few table pages for every address, so a handful of slots saves most
/// decompressions. Not thread-safe; the owner locks.
/// </summary>
internal sealed class DecodedPageCache(int slots)
{
    private readonly byte[] _data = new byte[slots * PageFrameNumber.PageSize];
    private readonly ulong[] _frames = new ulong[slots];
    private readonly Dictionary<ulong, int> _slotOf = new(slots);
    private int _next;

    public bool TryGet(ulong frame, Span<byte> destination)
    {
        if (!_slotOf.TryGetValue(frame, out int slot))
            return false;
        Page(slot).CopyTo(destination);
        return true;
    }

    public void Add(ulong frame, ReadOnlySpan<byte> page)
    {
        if (_slotOf.ContainsKey(frame))
            return;
        int slot = _next;
        _next = (_next + 1) % _frames.Length;
        if (_slotOf.Count == _frames.Length)
            _slotOf.Remove(_frames[slot]);
        _frames[slot] = frame;
        _slotOf[frame] = slot;
        page.CopyTo(Page(slot));
    }

    private Span<byte> Page(int slot) => _data.AsSpan(slot * PageFrameNumber.PageSize, PageFrameNumber.PageSize);
}
