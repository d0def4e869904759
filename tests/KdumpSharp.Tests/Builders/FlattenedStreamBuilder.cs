using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds makedumpfile flattened streams (makedumpfile IMPLEMENTATION, "The flattened format"):
/// a 4096-byte header "makedumpfile\0\0\0\0", big-endian type 1 and version 1, then records
/// {i64 BE offset, i64 BE size, data}, ended by -1/-1. <see cref="Reassemble"/> is the reference
/// semantics, seek-and-write in stream order, as makedumpfile -R does.
/// </summary>
internal sealed class FlattenedStreamBuilder
{
    private readonly MemoryStream _stream = new();

    public FlattenedStreamBuilder(long type = 1, long version = 1, string signature = "makedumpfile")
    {
        var header = new byte[4096];
        Encoding.ASCII.GetBytes(signature).CopyTo(header, 0);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(16), type);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(24), version);
        _stream.Write(header);
    }

    public List<(long Offset, byte[] Data)> Records { get; } = [];

    public FlattenedStreamBuilder Add(long offset, byte[] data)
    {
        Records.Add((offset, data));
        return RecordHeader(offset, data.Length).Raw(data);
    }

    /// <summary>Splits <paramref name="file"/> into records of the given sizes (cycled) and adds them in the order <paramref name="order"/> picks.</summary>
    public FlattenedStreamBuilder AddChunks(byte[] file, int[] sizes, Func<List<(long, byte[])>, IEnumerable<(long, byte[])>>? order = null)
    {
        var chunks = new List<(long, byte[])>();
        for (int at = 0, i = 0; at < file.Length; i++)
        {
            int n = Math.Min(sizes[i % sizes.Length], file.Length - at);
            chunks.Add((at, file[at..(at + n)]));
            at += n;
        }
        foreach ((long offset, byte[] data) in order?.Invoke(chunks) ?? chunks)
            Add(offset, data);
        return this;
    }

    public FlattenedStreamBuilder RecordHeader(long offset, long size)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(b, offset);
        BinaryPrimitives.WriteInt64BigEndian(b[8..], size);
        _stream.Write(b);
        return this;
    }

    public FlattenedStreamBuilder Raw(byte[] bytes)
    {
        _stream.Write(bytes);
        return this;
    }

    public FlattenedStreamBuilder End() => RecordHeader(-1, -1);

    public byte[] ToArray() => _stream.ToArray();

    /// <summary>The file makedumpfile -R would write from <paramref name="records"/>.</summary>
    public static byte[] Reassemble(IEnumerable<(long Offset, byte[] Data)> records)
    {
        var file = new MemoryStream();
        foreach ((long offset, byte[] data) in records)
        {
            if (file.Length < offset)
                file.SetLength(offset);
            file.Position = offset;
            file.Write(data);
        }
        return file.ToArray();
    }
}
