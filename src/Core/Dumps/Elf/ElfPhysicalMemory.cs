using KdumpSharp.IO;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Elf;

/// <summary>
/// Physical memory of an ELF vmcore. A page may straddle segments (RAM ranges need not be page
/// aligned, e.g. the first range ends at 0x9fc00): each piece is read from its own segment and
/// the gaps read as zero. Bytes past p_filesz are excluded, not zero: makedumpfile -E writes
/// excluded runs that way, and a reader that zero-filled them would show filtered memory as data.
/// </summary>
internal sealed class ElfPhysicalMemory : PhysicalMemory
{
    private readonly DumpSource _source;
    private readonly LoadSegment[] _segments;
    // A List, not an array: an array's IReadOnlyList methods are generic stubs that precompiled code lacks,
    // so every capture JIT-compiled three of them for PhysicalRange at its start.
    private readonly List<PhysicalRange> _ranges;

    public ElfPhysicalMemory(DumpSource source, IReadOnlyList<LoadSegment> sortedSegments)
    {
        _source = source;
        _segments = sortedSegments.ToArray();
        _ranges = Merge(_segments);
    }

    public override IReadOnlyList<PhysicalRange> Ranges => _ranges;

    public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination)
    {
        ulong pageStart = frame.Address.Value;
        ulong pageEnd = pageStart + PageFrameNumber.PageSize;
        int first = FirstSegmentEndingAfter(pageStart);
        bool present = false, excluded = false, lost = false, zeroed = false;
        for (int i = first; i < _segments.Length && _segments[i].Memory.Start.Value < pageEnd; i++)
        {
            LoadSegment s = _segments[i];
            ulong from = Math.Max(pageStart, s.Memory.Start.Value);
            ulong to = Math.Min(pageEnd, s.Memory.End.Value);
            ulong fileEnd = s.Memory.Start.Value + s.FileSize;
            if (from < fileEnd)
            {
                ulong readTo = Math.Min(to, fileEnd);
                if (!zeroed)
                {
                    destination.Clear();
                    zeroed = true;
                }
                Span<byte> piece = destination.Slice((int)(from - pageStart), (int)(readTo - from));
                long at = s.FileOffset + (long)(from - s.Memory.Start.Value);
                try
                {
                    if (_source.ReadAt(at, piece) != piece.Length)
                        lost = true;
                    else
                        present = true;
                }
                catch (IOException)
                {
                    // EIO from /proc/vmcore: the first kernel's memory there is poisoned or unreachable.
                    return PageState.Unreadable;
                }
            }
            if (to > fileEnd)
                excluded = true;
        }
        if (lost)
            return PageState.Lost;
        if (present)
            return PageState.Present;
        return excluded ? PageState.Excluded : PageState.NotInDump;
    }

    /// <summary>
    /// Pages that lie whole in one segment's file-backed part are read with one request per segment;
    /// any other page (straddling segments, past p_filesz) goes through <see cref="ReadPage"/>. When a
    /// large read fails (EIO from a poisoned page of /proc/vmcore) or comes back short, its pages are
    /// read again one at a time, so the failure costs the bad page alone.
    /// </summary>
    public override void ReadPages(PageFrameNumber first, int count, Span<byte> destination, Span<PageState> states)
    {
        const int pageSize = PageFrameNumber.PageSize;
        int done = 0;
        while (done < count)
        {
            ulong start = (first.Value + (ulong)done) << PageFrameNumber.PageShift;
            int index = FirstSegmentEndingAfter(start);
            int whole = 0;
            if (index < _segments.Length)
            {
                LoadSegment s = _segments[index];
                ulong fileEnd = s.Memory.Start.Value + s.FileSize;
                if (s.Memory.Start.Value <= start && start < fileEnd)
                    whole = (int)Math.Min((ulong)(count - done), (fileEnd - start) / pageSize);
            }
            if (whole == 0)
            {
                states[done] = ReadPage(first + (ulong)done, destination.Slice(done * pageSize, pageSize));
                done++;
                continue;
            }
            Span<byte> span = destination.Slice(done * pageSize, whole * pageSize);
            LoadSegment segment = _segments[index];
            bool read;
            try
            {
                read = _source.ReadAt(segment.FileOffset + (long)(start - segment.Memory.Start.Value), span) == span.Length;
            }
            catch (IOException)
            {
                read = false;
            }
            if (read)
                PageStates.MarkPresent(states.Slice(done, whole));
            else
                base.ReadPages(first + (ulong)done, whole, span, states.Slice(done, whole));
            done += whole;
        }
    }

    public override bool TryGetFileExtent(PageFrameNumber first, int count, out long offset)
    {
        offset = 0;
        ulong start = first.Value << PageFrameNumber.PageShift;
        int index = FirstSegmentEndingAfter(start);
        if (index >= _segments.Length || count <= 0)
            return false;
        LoadSegment s = _segments[index];
        ulong end = start + (ulong)count * PageFrameNumber.PageSize;
        if (s.Memory.Start.Value > start || end > s.Memory.Start.Value + s.FileSize)
            return false;
        offset = s.FileOffset + (long)(start - s.Memory.Start.Value);
        return offset + (long)(end - start) <= _source.Length;
    }

    public override PageState GetPageState(PageFrameNumber frame)
    {
        ulong pageStart = frame.Address.Value;
        ulong pageEnd = pageStart + PageFrameNumber.PageSize;
        bool present = false, excluded = false;
        for (int i = FirstSegmentEndingAfter(pageStart); i < _segments.Length && _segments[i].Memory.Start.Value < pageEnd; i++)
        {
            LoadSegment s = _segments[i];
            ulong from = Math.Max(pageStart, s.Memory.Start.Value);
            ulong to = Math.Min(pageEnd, s.Memory.End.Value);
            ulong fileEnd = s.Memory.Start.Value + s.FileSize;
            if (from < fileEnd)
            {
                long end = s.FileOffset + (long)(Math.Min(to, fileEnd) - s.Memory.Start.Value);
                if (end > _source.Length)
                    return PageState.Lost;
                present = true;
            }
            if (to > fileEnd)
                excluded = true;
        }
        return present ? PageState.Present : excluded ? PageState.Excluded : PageState.NotInDump;
    }

    /// <summary>Index of the first segment whose end is above <paramref name="address"/> (segments are sorted and disjoint).</summary>
    private int FirstSegmentEndingAfter(ulong address)
    {
        int lo = 0, hi = _segments.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_segments[mid].Memory.End.Value <= address)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    private static List<PhysicalRange> Merge(LoadSegment[] segments)
    {
        var ranges = new List<PhysicalRange>(segments.Length);
        foreach (LoadSegment s in segments)
        {
            if (ranges.Count > 0 && ranges[^1].End >= s.Memory.Start)
                ranges[^1] = ranges[^1] with { End = s.Memory.End > ranges[^1].End ? s.Memory.End : ranges[^1].End };
            else
                ranges.Add(s.Memory);
        }
        return ranges;
    }
}
