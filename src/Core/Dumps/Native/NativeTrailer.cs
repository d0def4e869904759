using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>The Trailer record's 48-byte payload; the record is the file's last 88 bytes (docs/format.md §5.3).</summary>
internal readonly struct NativeTrailer
{
    public const int IndexOffsetOffset = 0;                                         // u64 index_offset
    public const int ChunkCountOffset = IndexOffsetOffset + sizeof(ulong);          // u64 chunk_count
    public const int FileLengthOffset = ChunkCountOffset + sizeof(ulong);           // u64 file_length
    public const int DumpIdOffset = FileLengthOffset + sizeof(ulong);               // u8 dump_id[16]
    public const int FlagsOffset = DumpIdOffset + NativeFileHeader.DumpIdLength;    // u32 flags
    public const int ReservedOffset = FlagsOffset + sizeof(uint);                   // u32 reserved
    public const int Size = ReservedOffset + sizeof(uint);

    /// <summary>The whole record: header, payload, no padding (48 is a multiple of 8).</summary>
    public const int RecordSize = RecordHeader.Size + Size;

    /// <summary>flags bit 0: the writer declared the dump incomplete.</summary>
    public const uint FlagIncomplete = 1;

    public NativeTrailer(ReadOnlySpan<byte> b)
    {
        IndexOffset = BinaryPrimitives.ReadInt64LittleEndian(b[IndexOffsetOffset..]);
        ChunkCount = BinaryPrimitives.ReadUInt64LittleEndian(b[ChunkCountOffset..]);
        FileLength = BinaryPrimitives.ReadInt64LittleEndian(b[FileLengthOffset..]);
        DumpId = b.Slice(DumpIdOffset, NativeFileHeader.DumpIdLength).ToArray();
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[FlagsOffset..]);
    }

    public long IndexOffset { get; init; }
    public ulong ChunkCount { get; init; }
    public long FileLength { get; init; }
    public byte[] DumpId { get; init; }
    public uint Flags { get; init; }

    public bool WriterIncomplete => (Flags & FlagIncomplete) != 0;

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteInt64LittleEndian(b[IndexOffsetOffset..], IndexOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[ChunkCountOffset..], ChunkCount);
        BinaryPrimitives.WriteInt64LittleEndian(b[FileLengthOffset..], FileLength);
        DumpId.CopyTo(b[DumpIdOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], Flags);
    }
}
