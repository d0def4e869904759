using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// A bounds-checked cursor over a section's payload (docs/format.md §6). A field the payload ends
/// before reads as its default (an older writer did not know it); a field cut in half, or a
/// string longer than what remains, is corrupt and raised through <see cref="DumpThrow"/>.
/// </summary>
internal ref struct SectionReader(ReadOnlySpan<byte> payload, string source, long payloadOffset, string what)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _at;

    public readonly bool AtEnd => _at >= _payload.Length;

    public readonly int Remaining => _payload.Length - _at;

    public int ReadInt32(int absent = 0) => Take(sizeof(int), out ReadOnlySpan<byte> b) ? BinaryPrimitives.ReadInt32LittleEndian(b) : absent;

    public uint ReadUInt32() => Take(sizeof(uint), out ReadOnlySpan<byte> b) ? BinaryPrimitives.ReadUInt32LittleEndian(b) : 0;

    public long ReadInt64() => Take(sizeof(long), out ReadOnlySpan<byte> b) ? BinaryPrimitives.ReadInt64LittleEndian(b) : 0;

    public ulong ReadUInt64() => Take(sizeof(ulong), out ReadOnlySpan<byte> b) ? BinaryPrimitives.ReadUInt64LittleEndian(b) : 0;

    public byte ReadByte() => Take(1, out ReadOnlySpan<byte> b) ? b[0] : (byte)0;

    public void Skip(int count) => Take(count, out _);

    /// <summary>A u16 byte count and that many bytes of UTF-8; null when the payload ends first.</summary>
    public string? ReadString()
    {
        if (!Take(sizeof(ushort), out ReadOnlySpan<byte> length))
            return null;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(length);
        if (count > Remaining)
            DumpThrow.Corrupt(source, $"{what}: a {count}-byte string with {Remaining} bytes left", payloadOffset + _at);
        string text = Encoding.UTF8.GetString(_payload.Slice(_at, count));
        _at += count;
        return text;
    }

    /// <summary>Checks a count read from the payload against what the remaining bytes can hold, before anything is allocated.</summary>
    public readonly int CheckCount(ulong count, int entrySize, int cap)
    {
        if (count > (ulong)cap || count * (ulong)entrySize > (ulong)Remaining)
            DumpThrow.Corrupt(source, $"{what}: {count} entries of {entrySize} bytes do not fit its {Remaining} remaining bytes (limit {cap})", payloadOffset + _at);
        return (int)count;
    }

    private bool Take(int count, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (AtEnd)
            return false;
        if (count > Remaining)
            DumpThrow.Corrupt(source, $"{what}: a {count}-byte field with {Remaining} bytes left", payloadOffset + _at);
        bytes = _payload.Slice(_at, count);
        _at += count;
        return true;
    }
}

/// <summary>Builds a section payload field by field, in the order <see cref="SectionReader"/> reads it.</summary>
internal sealed class SectionWriter
{
    private readonly MemoryStream _bytes = new();

    public SectionWriter Int32(int value) => Put(sizeof(int), b => BinaryPrimitives.WriteInt32LittleEndian(b, value));

    public SectionWriter UInt32(uint value) => Put(sizeof(uint), b => BinaryPrimitives.WriteUInt32LittleEndian(b, value));

    public SectionWriter Int64(long value) => Put(sizeof(long), b => BinaryPrimitives.WriteInt64LittleEndian(b, value));

    public SectionWriter UInt64(ulong value) => Put(sizeof(ulong), b => BinaryPrimitives.WriteUInt64LittleEndian(b, value));

    public SectionWriter Byte(byte value) => Put(1, b => b[0] = value);

    public SectionWriter Zeros(int count) => Put(count, b => b.Clear());

    /// <summary>Writes a string as u16 length + UTF-8, cut at a character boundary to 65535 bytes.</summary>
    public SectionWriter String(string? text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text ?? "");
        int length = bytes.Length;
        if (length > ushort.MaxValue)
        {
            length = ushort.MaxValue;
            while (length > 0 && (bytes[length] & 0xc0) == 0x80)
                length--;
        }
        Put(sizeof(ushort), b => BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)length));
        _bytes.Write(bytes, 0, length);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private delegate void Filler(Span<byte> destination);

    private SectionWriter Put(int size, Filler fill)
    {
        Span<byte> b = stackalloc byte[size];
        fill(b);
        _bytes.Write(b);
        return this;
    }
}
