using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>One IndexBlock in the Index payload, after its two u64 counts (docs/format.md §5.2).</summary>
internal readonly record struct BlockEntry(ulong FirstPfn, ulong EndPfn, long Offset, ulong ChunkCount)
{
    public const int FirstPfnOffset = 0;                                    // u64 first_pfn
    public const int EndPfnOffset = FirstPfnOffset + sizeof(ulong);         // u64 end_pfn
    public const int RecordOffset = EndPfnOffset + sizeof(ulong);           // u64 offset
    public const int ChunkCountOffset = RecordOffset + sizeof(ulong);       // u64 chunk_count
    public const int Size = ChunkCountOffset + sizeof(ulong);

    /// <summary>Bytes before the first entry: u64 block_count, u64 section_count.</summary>
    public const int IndexHeaderSize = 2 * sizeof(ulong);

    public static BlockEntry Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b[FirstPfnOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[EndPfnOffset..]),
        BinaryPrimitives.ReadInt64LittleEndian(b[RecordOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[ChunkCountOffset..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b[FirstPfnOffset..], FirstPfn);
        BinaryPrimitives.WriteUInt64LittleEndian(b[EndPfnOffset..], EndPfn);
        BinaryPrimitives.WriteInt64LittleEndian(b[RecordOffset..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[ChunkCountOffset..], ChunkCount);
    }
}
