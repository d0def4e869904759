using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Flattened;

/// <summary>
/// makedumpfile.h <c>struct makedumpfile_header</c>: the first 4096 bytes (MAX_SIZE_MDF_HEADER) of a
/// flattened stream. Integers are big-endian whatever the machine, so a stream can be reassembled elsewhere.
/// </summary>
internal readonly struct FlattenedFileHeader
{
    public const int SignatureLength = 16;                                  // char signature[SIG_LEN_MDF], "makedumpfile" + NULs
    public const int SignatureOffset = 0;
    public const int TypeOffset = SignatureOffset + SignatureLength;        // int64_t type
    public const int VersionOffset = TypeOffset + sizeof(long);             // int64_t version
    public const int Size = VersionOffset + sizeof(long);
    public const int PaddedSize = 4096;                                     // the records start here

    public const long FlatType = 1;                                         // TYPE_FLAT_HEADER
    public const long FlatVersion = 1;                                      // VERSION_FLAT_HEADER

    /// <summary>"makedumpfile" and its terminating NUL: what makedumpfile's strcmp checks.</summary>
    public static ReadOnlySpan<byte> Signature => "makedumpfile\0"u8;

    public FlattenedFileHeader(ReadOnlySpan<byte> b)
    {
        HasSignature = b[SignatureOffset..].StartsWith(Signature);
        Type = BinaryPrimitives.ReadInt64BigEndian(b[TypeOffset..]);
        Version = BinaryPrimitives.ReadInt64BigEndian(b[VersionOffset..]);
    }

    public bool HasSignature { get; }
    public long Type { get; }
    public long Version { get; }
}

/// <summary>
/// makedumpfile.h <c>struct makedumpfile_data_header</c>: one record's target offset and size,
/// big-endian, followed by that many bytes. offset = size = -1 (END_FLAG_FLAT_HEADER) ends the stream.
/// </summary>
internal readonly record struct FlattenedRecordHeader(long Offset, long Size)
{
    public const int OffsetOffset = 0;                                      // int64_t offset
    public const int SizeOffset = OffsetOffset + sizeof(long);              // int64_t buf_size
    public const int Length = SizeOffset + sizeof(long);
    public const long EndFlag = -1;

    public bool IsEnd => Offset == EndFlag && Size == EndFlag;

    public static FlattenedRecordHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadInt64BigEndian(b[OffsetOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[SizeOffset..]));
}
