using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Flattened;

/// <summary>
/// A makedumpfile flattened stream (<c>-F</c>) read in place as the file <c>makedumpfile -R</c>
/// would rebuild: a 4096-byte header, then records {i64 BE offset, i64 BE size, data} to be
/// written at offset, ended by offset = size = -1 (makedumpfile IMPLEMENTATION, rearrange_dumpdata).
/// Opening walks the record headers once (skipping the data) and keeps one 24-byte index entry per
/// record; makedumpfile flushes its page caches one record at a time, 64 KiB by default
/// (page_size &lt;&lt; block_order), so the index is tiny beside the data. Records may come out of
/// order and may rewrite earlier bytes; later ones win, as with seek-and-write. Bytes no record
/// wrote read as zero, like the holes of the rebuilt file.
/// </summary>
public sealed class FlattenedSource : DumpSource
{
    private readonly DumpSource _inner;
    private readonly bool _leaveOpen;
    private readonly Segment[] _segments;
    private int _disposed;

    /// <summary>A run of target offsets [Target, Target + Length) whose bytes are at Source in the stream.</summary>
    private readonly record struct Segment(long Target, long Source, long Length)
    {
        public long End => Target + Length;
    }

    private FlattenedSource(DumpSource inner, bool leaveOpen, Segment[] segments, int recordCount, string? incompleteReason)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _segments = segments;
        RecordCount = recordCount;
        IncompleteReason = incompleteReason;
        Length = segments.Length == 0 ? 0 : segments.Max(s => s.End);
    }

    public override string Name => _inner.Name;

    /// <summary>The size of the rebuilt file: the end of the furthest record.</summary>
    public override long Length { get; }

    /// <summary>Data records in the stream (the end marker not counted).</summary>
    public int RecordCount { get; }

    /// <summary>The stream has no end marker: the transfer or the writer was cut short. What is there still reads.</summary>
    public bool IsIncomplete => IncompleteReason is not null;

    public string? IncompleteReason { get; }

    /// <summary>True when <paramref name="source"/> starts with the flattened header's "makedumpfile" signature.</summary>
    public static bool HasSignature(DumpSource source)
    {
        Span<byte> b = stackalloc byte[FlattenedFileHeader.Signature.Length];
        return source.ReadAt(0, b) == b.Length && b.SequenceEqual(FlattenedFileHeader.Signature);
    }

    /// <summary>
    /// Indexes a flattened stream. Throws <see cref="UnrecognizedDumpException"/> without the
    /// signature, and <see cref="DumpFormatException"/> for a bad header, a record with a negative
    /// or overflowing offset or size, or more records than <see cref="DumpLimits.MaxFlattenedRecords"/>.
    /// A stream without the end marker opens with <see cref="IsIncomplete"/> set. Unless
    /// <paramref name="leaveOpen"/>, this source owns <paramref name="inner"/> (also on failure).
    /// </summary>
    public static FlattenedSource Open(DumpSource inner, DumpLimits limits, bool leaveOpen = false)
    {
        try
        {
            return OpenCore(inner, limits, leaveOpen);
        }
        catch when (!leaveOpen)
        {
            inner.Dispose();
            throw;
        }
    }

    private static FlattenedSource OpenCore(DumpSource inner, DumpLimits limits, bool leaveOpen)
    {
        string name = inner.Name;
        if (!HasSignature(inner))
            DumpThrow.Unrecognized(name, "not a makedumpfile flattened stream (no \"makedumpfile\" signature at offset 0)");
        Span<byte> headerBytes = stackalloc byte[FlattenedFileHeader.Size];
        inner.ReadExactly(0, headerBytes, "the flattened header");
        var header = new FlattenedFileHeader(headerBytes);
        if (header.Type != FlattenedFileHeader.FlatType)
            DumpThrow.Corrupt(name, $"flattened header type is {header.Type}, expected {FlattenedFileHeader.FlatType}", FlattenedFileHeader.TypeOffset);
        if (header.Version != FlattenedFileHeader.FlatVersion)
            DumpThrow.Corrupt(name, $"flattened header version is {header.Version}, expected {FlattenedFileHeader.FlatVersion}", FlattenedFileHeader.VersionOffset);

        var records = new List<(Segment Segment, int Sequence)>();
        string? incomplete = null;
        long at = FlattenedFileHeader.PaddedSize;
        Span<byte> recordBytes = stackalloc byte[FlattenedRecordHeader.Length];
        for (int count = 0; ; count++)
        {
            if (inner.ReadAt(at, recordBytes) != recordBytes.Length)
            {
                incomplete = $"the flattened stream ends at 0x{inner.Length:x} without its end marker";
                break;
            }
            var record = FlattenedRecordHeader.Read(recordBytes);
            if (record.IsEnd)
                break;
            if (record.Offset < 0 || record.Size < 0 || record.Offset > long.MaxValue - record.Size)
                DumpThrow.Corrupt(name, $"flattened record with offset {record.Offset} and size {record.Size}", at);
            if (count >= limits.MaxFlattenedRecords)
                DumpThrow.Corrupt(name, $"more than {limits.MaxFlattenedRecords} flattened records", at);
            long data = at + FlattenedRecordHeader.Length;
            long available = Math.Clamp(inner.Length - data, 0, record.Size);
            if (available > 0)
                records.Add((new Segment(record.Offset, data, available), count));
            if (available < record.Size)
            {
                incomplete = $"the flattened stream ends inside the record for offset 0x{record.Offset:x} ({available} of {record.Size} bytes)";
                break;
            }
            at = data + record.Size;
        }
        return new FlattenedSource(inner, leaveOpen, Resolve(records), records.Count, incomplete);
    }

    /// <summary>Sorts the records by target offset and, where they overlap, keeps the bytes of the later record.</summary>
    private static Segment[] Resolve(List<(Segment Segment, int Sequence)> records)
    {
        records.Sort((a, b) => a.Segment.Target != b.Segment.Target ? a.Segment.Target.CompareTo(b.Segment.Target) : a.Sequence.CompareTo(b.Sequence));
        bool overlaps = false;
        for (int i = 1; i < records.Count && !overlaps; i++)
            overlaps = records[i].Segment.Target < records[i - 1].Segment.End;
        if (!overlaps)
            return records.ConvertAll(r => r.Segment).ToArray();

        // Sweep over target offsets with the covering records in a heap, latest first; between two
        // record boundaries the latest record covering the span supplies its bytes.
        var output = new List<Segment>();
        var covering = new PriorityQueue<int, int>();
        int next = 0;
        long position = 0;
        while (next < records.Count || covering.Count > 0)
        {
            if (covering.Count == 0)
                position = Math.Max(position, records[next].Segment.Target);
            while (next < records.Count && records[next].Segment.Target <= position)
            {
                covering.Enqueue(next, -records[next].Sequence);
                next++;
            }
            while (covering.Count > 0 && records[covering.Peek()].Segment.End <= position)
                covering.Dequeue();
            if (covering.Count == 0)
                continue;
            Segment top = records[covering.Peek()].Segment;
            long end = next < records.Count ? Math.Min(top.End, records[next].Segment.Target) : top.End;
            Append(output, new Segment(position, top.Source + (position - top.Target), end - position));
            position = end;
        }
        return [.. output];
    }

    private static void Append(List<Segment> output, Segment segment)
    {
        if (output.Count > 0 && output[^1] is var last && last.End == segment.Target && last.Source + last.Length == segment.Source)
            output[^1] = last with { Length = last.Length + segment.Length };
        else
            output.Add(segment);
    }

    public override int ReadAt(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || offset >= Length)
            return 0;
        int count = (int)Math.Min(destination.Length, Length - offset);
        Span<byte> rest = destination[..count];
        long position = offset;
        int i = LastStartingAtOrBefore(position);
        while (!rest.IsEmpty)
        {
            if (i >= 0 && position < _segments[i].End)
            {
                Segment s = _segments[i];
                int n = (int)Math.Min(rest.Length, s.End - position);
                _inner.ReadExactly(s.Source + (position - s.Target), rest[..n], "flattened record data");
                rest = rest[n..];
                position += n;
            }
            else
            {
                long gapEnd = i + 1 < _segments.Length ? _segments[i + 1].Target : Length;
                int n = (int)Math.Min(rest.Length, gapEnd - position);
                rest[..n].Clear();
                rest = rest[n..];
                position += n;
                i++;
            }
        }
        return count;
    }

    /// <summary>Index of the last segment with Target ≤ <paramref name="position"/>, or -1.</summary>
    private int LastStartingAtOrBefore(long position)
    {
        int lo = 0, hi = _segments.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + (hi - lo) / 2;
            if (_segments[mid].Target <= position)
            {
                found = mid;
                lo = mid + 1;
            }
            else
                hi = mid - 1;
        }
        return found;
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!_leaveOpen)
            _inner.Dispose();
    }
}
