using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// The fixed start of a Chunk record's payload (docs/format.md §4.1), followed by
/// <see cref="RunCount"/> <see cref="PageRun"/>s, the copy table (<see cref="CopyPages"/> source pfns) and
/// <see cref="StoredLength"/> bytes of data.
/// </summary>
internal readonly record struct ChunkHeader(ushort Codec, ushort CopyPages, uint RunCount, uint PresentPages, uint StoredLength)
{
    public const int CodecOffset = 0;                                           // u16 codec
    public const int CopyPagesOffset = CodecOffset + sizeof(ushort);            // u16 copy_pages
    public const int RunCountOffset = CopyPagesOffset + sizeof(ushort);         // u32 run_count
    public const int PresentPagesOffset = RunCountOffset + sizeof(uint);        // u32 present_pages
    public const int StoredLengthOffset = PresentPagesOffset + sizeof(uint);    // u32 stored_length
    public const int Size = StoredLengthOffset + sizeof(uint);

    /// <summary>Bytes of one copy table entry: the u64 pfn of the page a Copy page repeats.</summary>
    public const int CopyEntrySize = sizeof(ulong);

    public long RunsLength => (long)RunCount * PageRun.Size;

    public long CopyTableLength => (long)CopyPages * CopyEntrySize;

    /// <summary>Where the data starts in the payload.</summary>
    public long DataOffset => Size + RunsLength + CopyTableLength;

    /// <summary>The payload length this header implies.</summary>
    public long PayloadLength => DataOffset + StoredLength;

    public static ChunkHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(b[CodecOffset..]),
        BinaryPrimitives.ReadUInt16LittleEndian(b[CopyPagesOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[RunCountOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[PresentPagesOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[StoredLengthOffset..]));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(b[CodecOffset..], Codec);
        BinaryPrimitives.WriteUInt16LittleEndian(b[CopyPagesOffset..], CopyPages);
        BinaryPrimitives.WriteUInt32LittleEndian(b[RunCountOffset..], RunCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PresentPagesOffset..], PresentPages);
        BinaryPrimitives.WriteUInt32LittleEndian(b[StoredLengthOffset..], StoredLength);
    }
}
