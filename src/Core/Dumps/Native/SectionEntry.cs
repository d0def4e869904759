using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>One section record in the Index payload, after the block entries (docs/format.md §5.2).</summary>
internal readonly record struct SectionEntry(RecordType Type, RecordFlags Flags, long Offset, ulong PayloadLength)
{
    public const int TypeOffset = 0;                                        // u16 type
    public const int FlagsOffset = TypeOffset + sizeof(ushort);             // u16 flags
    public const int ReservedOffset = FlagsOffset + sizeof(ushort);         // u32 reserved
    public const int RecordOffset = ReservedOffset + sizeof(uint);          // u64 offset
    public const int PayloadLengthOffset = RecordOffset + sizeof(ulong);    // u64 payload_length
    public const int Size = PayloadLengthOffset + sizeof(ulong);

    public static SectionEntry Read(ReadOnlySpan<byte> b) => new(
        (RecordType)BinaryPrimitives.ReadUInt16LittleEndian(b[TypeOffset..]),
        (RecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(b[FlagsOffset..]),
        BinaryPrimitives.ReadInt64LittleEndian(b[RecordOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[PayloadLengthOffset..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b[TypeOffset..], (ushort)Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b[FlagsOffset..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[ReservedOffset..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[RecordOffset..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PayloadLengthOffset..], PayloadLength);
    }
}
