using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>One chunk in an IndexBlock payload, after its u64 count (docs/format.md §5.1).</summary>
internal readonly record struct ChunkEntry(ulong FirstPfn, ulong EndPfn, long Offset)
{
    public const int FirstPfnOffset = 0;                                    // u64 first_pfn
    public const int EndPfnOffset = FirstPfnOffset + sizeof(ulong);         // u64 end_pfn
    public const int RecordOffset = EndPfnOffset + sizeof(ulong);           // u64 offset
    public const int Size = RecordOffset + sizeof(ulong);

    /// <summary>Bytes before the first entry: u64 count.</summary>
    public const int BlockHeaderSize = sizeof(ulong);

    public static ChunkEntry Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b[FirstPfnOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[EndPfnOffset..]),
        BinaryPrimitives.ReadInt64LittleEndian(b[RecordOffset..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b[FirstPfnOffset..], FirstPfn);
        BinaryPrimitives.WriteUInt64LittleEndian(b[EndPfnOffset..], EndPfn);
        BinaryPrimitives.WriteInt64LittleEndian(b[RecordOffset..], Offset);
    }
}
