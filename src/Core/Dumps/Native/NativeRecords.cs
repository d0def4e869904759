using KdumpSharp.IO;

namespace KdumpSharp.Dumps.Native;

/// <summary>Reading one record through a <see cref="DumpSource"/>: its header, and its payload checked against the CRC.</summary>
internal static class NativeRecords
{
    /// <summary>Reads and checks the header at <paramref name="offset"/>; false when it is cut off, has no magic or fails its CRC.</summary>
    public static bool TryReadHeader(DumpSource source, long offset, ReadOnlySpan<byte> dumpId, out RecordHeader header)
    {
        Span<byte> bytes = stackalloc byte[RecordHeader.Size];
        header = default;
        return offset >= 0 && source.ReadAt(offset, bytes) == bytes.Length && RecordHeader.TryParse(bytes, dumpId, out header);
    }

    /// <summary>Whether the payload of a record at <paramref name="offset"/> lies wholly inside the source.</summary>
    public static bool PayloadFits(DumpSource source, long offset, in RecordHeader header) =>
        header.PayloadLength <= (ulong)Math.Max(0, source.Length - offset - RecordHeader.Size);

    /// <summary>
    /// The payload of a record of <paramref name="type"/> at <paramref name="offset"/>, or null when the
    /// header fails its checks, is of another type, claims more than <paramref name="maxLength"/> bytes
    /// (checked before allocating), runs past the end of the source, or the payload fails its CRC.
    /// </summary>
    public static byte[]? ReadPayload(DumpSource source, long offset, ReadOnlySpan<byte> dumpId, RecordType type, long maxLength, out RecordHeader header)
    {
        if (!TryReadHeader(source, offset, dumpId, out header) || header.Type != type
            || header.PayloadLength > (ulong)maxLength || !PayloadFits(source, offset, header))
            return null;
        var payload = new byte[header.PayloadLength];
        if (source.ReadAt(offset + RecordHeader.Size, payload) != payload.Length || Crc32C.Compute(payload) != header.PayloadCrc)
            return null;
        return payload;
    }
}
