using System.Buffers;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Where a native dump's records are, found the fast way (trailer, then Index) or, when the file has
/// no usable trailer, by walking the records from the header (docs/format.md §7). Either way the
/// result lists the chunks (as a <see cref="ChunkIndex"/>) and the sections, and says what, if
/// anything, is missing.
/// </summary>
internal sealed class NativeLayout
{
    private const int ResyncBlock = 64 * 1024;

    private NativeLayout(ChunkIndex chunks, List<SectionEntry> sections, List<string> problems, bool writerIncomplete)
    {
        Chunks = chunks;
        Sections = sections;
        Problems = problems;
        WriterIncomplete = writerIncomplete;
    }

    public ChunkIndex Chunks { get; }

    /// <summary>Every section record, in file order.</summary>
    public List<SectionEntry> Sections { get; }

    /// <summary>What is missing from the file or damaged in it; empty when every record is there and sound.
    /// The writer's own verdict is <see cref="WriterIncomplete"/>.</summary>
    public List<string> Problems { get; }

    /// <summary>The Trailer's flag: the writer itself said the dump is incomplete.</summary>
    public bool WriterIncomplete { get; }

    /// <summary>A dump cut inside its header: nothing but the fact that it was started.</summary>
    public static NativeLayout Empty(DumpSource source, string problem) =>
        new(ChunkIndex.Empty(source), [], [problem], false);

    public static NativeLayout Load(DumpSource source, in NativeFileHeader header, DumpLimits limits)
    {
        long firstRecord = NativeFormat.Align(header.HeaderSize);
        NativeLayout? fast = TryTrailer(source, header, firstRecord, limits, out string? trailerProblem);
        return fast ?? Scan(source, header, firstRecord, limits, trailerProblem);
    }

    /// <summary>
    /// The fast path: a trailer that checks out, pointing at an Index that checks out and ends where
    /// the trailer starts. Null, with the reason, when anything fails; the caller then scans.
    /// </summary>
    private static NativeLayout? TryTrailer(DumpSource source, in NativeFileHeader header, long firstRecord, DumpLimits limits, out string? problem)
    {
        long length = source.Length;
        long at = length - NativeTrailer.RecordSize;
        problem = null;
        if (at < firstRecord)
            return null;
        byte[]? payload = NativeRecords.ReadPayload(source, at, header.DumpId, RecordType.Trailer, NativeTrailer.Size, out RecordHeader trailerHeader);
        if (payload is null || trailerHeader.PayloadLength != NativeTrailer.Size)
            return null;
        var trailer = new NativeTrailer(payload);
        if (trailer.FileLength != length || !trailer.DumpId.AsSpan().SequenceEqual(header.DumpId)
            || trailer.IndexOffset < firstRecord || trailer.IndexOffset >= at || trailer.IndexOffset % NativeFormat.RecordAlignment != 0)
        {
            problem = $"the trailer at 0x{at:x} does not describe this file";
            return null;
        }
        byte[]? index = NativeRecords.ReadPayload(source, trailer.IndexOffset, header.DumpId, RecordType.Index, limits.MaxNativeSectionBytes, out RecordHeader indexHeader);
        if (index is null || indexHeader.NextRecord(trailer.IndexOffset) != at)
        {
            problem = $"the index at 0x{trailer.IndexOffset:x} is damaged; the chunks were found by scanning";
            return null;
        }
        var builder = new ChunkIndex.Builder(source, header.DumpId, firstRecord);
        var sections = new List<SectionEntry>();
        if (!ParseIndex(index, builder, sections, firstRecord, trailer.IndexOffset, trailer.ChunkCount))
        {
            problem = $"the index at 0x{trailer.IndexOffset:x} is inconsistent; the chunks were found by scanning";
            return null;
        }
        foreach (SectionEntry s in sections)
            RejectUnknownRequired(source.Name, s.Type, s.Flags, s.Offset);
        return new NativeLayout(builder.Build(trailer.IndexOffset), sections, [], trailer.WriterIncomplete);
    }

    /// <summary>Checks the Index payload (docs/format.md §5.2) entry by entry while adding it to the builder.</summary>
    private static bool ParseIndex(ReadOnlySpan<byte> index, ChunkIndex.Builder builder, List<SectionEntry> sections, long firstRecord, long indexOffset, ulong chunkCount)
    {
        if (index.Length < BlockEntry.IndexHeaderSize)
            return false;
        ulong blockCount = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(index);
        ulong sectionCount = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(index[sizeof(ulong)..]);
        ulong room = (ulong)(index.Length - BlockEntry.IndexHeaderSize);
        if (blockCount > room / BlockEntry.Size || sectionCount > room / SectionEntry.Size
            || blockCount * BlockEntry.Size + sectionCount * SectionEntry.Size != room)
            return false;
        ulong previousEnd = 0, chunks = 0;
        for (int i = 0; i < (int)blockCount; i++)
        {
            BlockEntry b = BlockEntry.Read(index[(BlockEntry.IndexHeaderSize + i * BlockEntry.Size)..]);
            if (b.FirstPfn >= b.EndPfn || b.FirstPfn < previousEnd || b.ChunkCount == 0 || b.ChunkCount > NativeFormat.MaxIndexBlockChunks
                || b.Offset < firstRecord || b.Offset >= indexOffset)
                return false;
            builder.AddStored(b);
            previousEnd = b.EndPfn;
            chunks += b.ChunkCount;
        }
        int sectionsStart = BlockEntry.IndexHeaderSize + (int)blockCount * BlockEntry.Size;
        for (int i = 0; i < (int)sectionCount; i++)
        {
            SectionEntry s = SectionEntry.Read(index[(sectionsStart + i * SectionEntry.Size)..]);
            if (s.Offset < firstRecord || s.Offset >= indexOffset || s.PayloadLength > (ulong)(indexOffset - s.Offset))
                return false;
            sections.Add(s);
        }
        return chunks == chunkCount;
    }

    /// <summary>
    /// The recovery path: walk the records from the first one, jumping by payload length. A header
    /// that fails its checks starts a search for the next good one; a record cut by the end of the
    /// file ends the walk. Reads only headers (and the IndexBlocks it adopts), never chunk data.
    /// </summary>
    private static NativeLayout Scan(DumpSource source, in NativeFileHeader header, long firstRecord, DumpLimits limits, string? trailerProblem)
    {
        string name = source.Name;
        long length = source.Length;
        var builder = new ChunkIndex.Builder(source, header.DumpId, firstRecord);
        var sections = new List<SectionEntry>();
        var problems = new List<string>();
        bool sawTrailer = false, writerIncomplete = false;
        long at = firstRecord;
        while (at < length)
        {
            if (!NativeRecords.TryReadHeader(source, at, header.DumpId, out RecordHeader h))
            {
                if (length - at < RecordHeader.Size && IsPrefixOfRecord(source, at, length))
                {
                    problems.Add($"the file ends at 0x{length:x}, inside the header of a record at 0x{at:x}");
                    break;
                }
                long next = Resync(source, at + NativeFormat.RecordAlignment, header.DumpId);
                if (next < 0)
                {
                    problems.Add($"the bytes from 0x{at:x} to the end of the file (0x{length:x}) hold no record: the writer was cut off or they are damaged");
                    break;
                }
                problems.Add($"damaged bytes [0x{at:x}, 0x{next:x}) were skipped");
                at = next;
                continue;
            }
            if (!NativeRecords.PayloadFits(source, at, h))
            {
                problems.Add($"the file ends at 0x{length:x}, inside a {NativeFormat.Describe(h.Type)} record at 0x{at:x} that needed {h.PayloadLength} bytes of payload");
                break;
            }
            switch (h.Type)
            {
                case RecordType.Chunk:
                    if (h.FirstPfn < h.EndPfn && h.FirstPfn >= builder.EndPfn && h.EndPfn <= limits.MaxPageFrames)
                        builder.AddChunk(new ChunkEntry(h.FirstPfn, h.EndPfn, at));
                    else
                        problems.Add($"the chunk at 0x{at:x} covers pfns [0x{h.FirstPfn:x}, 0x{h.EndPfn:x}), out of order; it was skipped");
                    break;
                case RecordType.IndexBlock:
                    if (builder.PendingCount > 0 && h.PayloadLength <= ChunkEntry.BlockHeaderSize + (ulong)NativeFormat.MaxIndexBlockChunks * ChunkEntry.Size
                        && NativeRecords.ReadPayload(source, at, header.DumpId, RecordType.IndexBlock, (long)h.PayloadLength, out _) is byte[] block)
                        builder.OfferStored(at, h, block, length);
                    break;
                case RecordType.Index:
                    break;
                case RecordType.Trailer:
                    sawTrailer = true;
                    if (NativeRecords.ReadPayload(source, at, header.DumpId, RecordType.Trailer, NativeTrailer.Size, out _) is byte[] t && t.Length == NativeTrailer.Size)
                        writerIncomplete = new NativeTrailer(t).WriterIncomplete;
                    break;
                default:
                    RejectUnknownRequired(name, h.Type, h.Flags, at);
                    if ((ushort)h.Type >= (ushort)RecordType.RangesSection)
                        sections.Add(new SectionEntry(h.Type, h.Flags, at, h.PayloadLength));
                    break;
            }
            if (sawTrailer)
                break;
            at = h.NextRecord(at);
        }
        if (!sawTrailer)
            problems.Insert(0, trailerProblem ?? $"the file has no trailer: the writer did not finish; {builder.ChunkCount} chunks were recovered by scanning");
        return new NativeLayout(builder.Build(length), sections, problems, writerIncomplete);
    }

    /// <summary>Whether the bytes left at the end could be the start of a record header (the writer was cut there).</summary>
    private static bool IsPrefixOfRecord(DumpSource source, long at, long length)
    {
        Span<byte> tail = stackalloc byte[RecordHeader.Size];
        int n = source.ReadAt(at, tail[..(int)(length - at)]);
        int compare = Math.Min(n, RecordHeader.MagicLength);
        return tail[..compare].SequenceEqual(RecordHeader.Magic[..compare]);
    }

    /// <summary>The next offset, a multiple of 8 from <paramref name="from"/>, holding a record header that checks out; -1 if none.
    /// Linear in the bytes searched: each 8-byte step compares 4 bytes, and only a magic match costs a CRC.</summary>
    private static long Resync(DumpSource source, long from, byte[] dumpId)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ResyncBlock + RecordHeader.Size);
        try
        {
            for (long block = from; block < source.Length; block += ResyncBlock)
            {
                int n = source.ReadAt(block, buffer.AsSpan(0, ResyncBlock + RecordHeader.Size));
                for (int i = 0; i < Math.Min(n, ResyncBlock) && i + RecordHeader.Size <= n; i += NativeFormat.RecordAlignment)
                    if (buffer.AsSpan(i, RecordHeader.MagicLength).SequenceEqual(RecordHeader.Magic)
                        && RecordHeader.TryParse(buffer.AsSpan(i, RecordHeader.Size), dumpId, out _))
                        return block + i;
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void RejectUnknownRequired(string name, RecordType type, RecordFlags flags, long offset)
    {
        if ((flags & RecordFlags.Required) != 0 && !Enum.IsDefined(type))
            DumpThrow.Corrupt(name, $"record type 0x{(ushort)type:x4} is required to read this dump and this KdumpSharp does not know it; a newer version wrote the file", offset);
    }
}
