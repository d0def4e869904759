using System.Buffers.Binary;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// The 40-byte header every record starts with (docs/format.md §3). The header CRC covers the
/// dump's id and then bytes [0, 36), so a record of another dump never checks out in this one.
/// </summary>
internal readonly record struct RecordHeader(RecordType Type, RecordFlags Flags, ulong PayloadLength, ulong Arg0, ulong Arg1, uint PayloadCrc)
{
    public const int MagicLength = 4;                                       // u8 magic[4] "KDSR"

    public const int MagicOffset = 0;
    public const int TypeOffset = MagicOffset + MagicLength;                // u16 type
    public const int FlagsOffset = TypeOffset + sizeof(ushort);             // u16 flags
    public const int PayloadLengthOffset = FlagsOffset + sizeof(ushort);    // u64 payload_length
    public const int Arg0Offset = PayloadLengthOffset + sizeof(ulong);      // u64 arg0
    public const int Arg1Offset = Arg0Offset + sizeof(ulong);               // u64 arg1
    public const int PayloadCrcOffset = Arg1Offset + sizeof(ulong);         // u32 payload_crc
    public const int HeaderCrcOffset = PayloadCrcOffset + sizeof(uint);     // u32 header_crc
    public const int Size = HeaderCrcOffset + sizeof(uint);

    public static ReadOnlySpan<byte> Magic => "KDSR"u8;

    /// <summary>The first pfn a Chunk or IndexBlock covers.</summary>
    public ulong FirstPfn => Arg0;

    /// <summary>One past the last pfn a Chunk or IndexBlock covers.</summary>
    public ulong EndPfn => Arg1;

    public bool IsRequired => (Flags & RecordFlags.Required) != 0;

    /// <summary>Where the next record starts, for a record at <paramref name="offset"/>.</summary>
    public long NextRecord(long offset) => NativeFormat.Align(offset + Size + (long)PayloadLength);

    /// <summary>Parses a header whose magic and CRC check out for <paramref name="dumpId"/>; false otherwise.</summary>
    public static bool TryParse(ReadOnlySpan<byte> b, ReadOnlySpan<byte> dumpId, out RecordHeader header)
    {
        header = default;
        if (b.Length < Size || !b[..MagicLength].SequenceEqual(Magic))
            return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[HeaderCrcOffset..]) != Crc(b, dumpId))
            return false;
        header = new RecordHeader(
            (RecordType)BinaryPrimitives.ReadUInt16LittleEndian(b[TypeOffset..]),
            (RecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(b[FlagsOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[PayloadLengthOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[Arg0Offset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[Arg1Offset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[PayloadCrcOffset..]));
        return true;
    }

    public void Write(Span<byte> b, ReadOnlySpan<byte> dumpId)
    {
        Magic.CopyTo(b[MagicOffset..]);
        BinaryPrimitives.WriteUInt16LittleEndian(b[TypeOffset..], (ushort)Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b[FlagsOffset..], (ushort)Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PayloadLengthOffset..], PayloadLength);
        BinaryPrimitives.WriteUInt64LittleEndian(b[Arg0Offset..], Arg0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[Arg1Offset..], Arg1);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PayloadCrcOffset..], PayloadCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[HeaderCrcOffset..], Crc(b, dumpId));
    }

    private static uint Crc(ReadOnlySpan<byte> b, ReadOnlySpan<byte> dumpId) =>
        Crc32C.Append(Crc32C.Compute(dumpId), b[..HeaderCrcOffset]);
}
