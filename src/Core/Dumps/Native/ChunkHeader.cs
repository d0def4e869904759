using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// The fixed start of a Chunk record's payload (docs/format.md §4.1), followed by
/// <see cref="RunCount"/> <see cref="PageRun"/>s and <see cref="StoredLength"/> bytes of data.
/// </summary>
internal readonly record struct ChunkHeader(ushort Codec, uint RunCount, uint PresentPages, uint StoredLength)
{
    public const int CodecOffset = 0;                                           // u16 codec
    public const int ReservedOffset = CodecOffset + sizeof(ushort);             // u16 reserved
    public const int RunCountOffset = ReservedOffset + sizeof(ushort);          // u32 run_count
    public const int PresentPagesOffset = RunCountOffset + sizeof(uint);        // u32 present_pages
    public const int StoredLengthOffset = PresentPagesOffset + sizeof(uint);    // u32 stored_length
    public const int Size = StoredLengthOffset + sizeof(uint);

    public long RunsLength => (long)RunCount * PageRun.Size;

    /// <summary>The payload length this header implies.</summary>
    public long PayloadLength => Size + RunsLength + StoredLength;

    public static ChunkHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(b[CodecOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[RunCountOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[PresentPagesOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[StoredLengthOffset..]));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(b[CodecOffset..], Codec);
        BinaryPrimitives.WriteUInt32LittleEndian(b[RunCountOffset..], RunCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PresentPagesOffset..], PresentPages);
        BinaryPrimitives.WriteUInt32LittleEndian(b[StoredLengthOffset..], StoredLength);
    }
}
