using System.Buffers.Binary;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// The 64-byte file header at offset 0 (docs/format.md §2). Fields in file order; offsets derived
/// from the field sizes. Records start at <see cref="HeaderSize"/> rounded up to 8.
/// </summary>
internal readonly struct NativeFileHeader
{
    public const int MagicLength = 8;                                           // u8 magic[8]
    public const int DumpIdLength = 16;                                         // u8 dump_id[16]
    public const int ReservedLength = 12;                                       // u8 reserved[12]

    public const int MagicOffset = 0;
    public const int VersionOffset = MagicOffset + MagicLength;                 // u32 version
    public const int HeaderSizeOffset = VersionOffset + sizeof(uint);           // u32 header_size
    public const int IncompatFlagsOffset = HeaderSizeOffset + sizeof(uint);     // u32 incompat_flags
    public const int CompatFlagsOffset = IncompatFlagsOffset + sizeof(uint);    // u32 compat_flags
    public const int PageSizeOffset = CompatFlagsOffset + sizeof(uint);         // u32 page_size
    public const int CodecOffset = PageSizeOffset + sizeof(uint);               // u16 codec
    public const int ChunkPagesOffset = CodecOffset + sizeof(ushort);           // u16 chunk_pages
    public const int DumpIdOffset = ChunkPagesOffset + sizeof(ushort);          // u8 dump_id[16]
    public const int ReservedOffset = DumpIdOffset + DumpIdLength;              // u8 reserved[12]
    public const int HeaderCrcOffset = ReservedOffset + ReservedLength;         // u32 header_crc
    public const int Size = HeaderCrcOffset + sizeof(uint);

    /// <summary>Largest header_size a reader accepts (later versions may grow the header).</summary>
    public const int MaxSize = 4096;

    /// <summary>Parses the fixed fields; the caller checks the magic and the CRC.</summary>
    public NativeFileHeader(ReadOnlySpan<byte> b)
    {
        Version = BinaryPrimitives.ReadUInt32LittleEndian(b[VersionOffset..]);
        HeaderSize = BinaryPrimitives.ReadUInt32LittleEndian(b[HeaderSizeOffset..]);
        IncompatFlags = BinaryPrimitives.ReadUInt32LittleEndian(b[IncompatFlagsOffset..]);
        CompatFlags = BinaryPrimitives.ReadUInt32LittleEndian(b[CompatFlagsOffset..]);
        PageSize = BinaryPrimitives.ReadUInt32LittleEndian(b[PageSizeOffset..]);
        Codec = BinaryPrimitives.ReadUInt16LittleEndian(b[CodecOffset..]);
        ChunkPages = BinaryPrimitives.ReadUInt16LittleEndian(b[ChunkPagesOffset..]);
        DumpId = b.Slice(DumpIdOffset, DumpIdLength).ToArray();
    }

    public uint Version { get; init; }
    public uint HeaderSize { get; init; }
    public uint IncompatFlags { get; init; }
    public uint CompatFlags { get; init; }
    public uint PageSize { get; init; }

    /// <summary>The codec the writer chose; each chunk names its own.</summary>
    public ushort Codec { get; init; }

    /// <summary>Most present pages the writer puts in one chunk.</summary>
    public ushort ChunkPages { get; init; }

    /// <summary>Random per dump; seeds every record's header CRC and is repeated in the trailer.</summary>
    public byte[] DumpId { get; init; }

    /// <summary>Where the CRC sits for a header of <paramref name="headerSize"/> bytes: its last 4.</summary>
    public static int CrcOffset(int headerSize) => headerSize - sizeof(uint);

    /// <summary>Writes the version 1 header (64 bytes) with its CRC.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        NativeFormat.Magic.CopyTo(b[MagicOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[VersionOffset..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[HeaderSizeOffset..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[IncompatFlagsOffset..], IncompatFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CompatFlagsOffset..], CompatFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PageSizeOffset..], PageSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[CodecOffset..], Codec);
        BinaryPrimitives.WriteUInt16LittleEndian(b[ChunkPagesOffset..], ChunkPages);
        DumpId.CopyTo(b[DumpIdOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[HeaderCrcOffset..], Crc32C.Compute(b[..HeaderCrcOffset]));
    }
}
