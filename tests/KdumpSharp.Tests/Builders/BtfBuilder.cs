using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Btf;

namespace KdumpSharp.Tests.Builders;

/// <summary>Builds a BTF blob (include/uapi/linux/btf.h) type by type; each Add returns the new type's id.</summary>
internal sealed class BtfBuilder
{
    private readonly List<byte> _types = [];
    private readonly List<byte> _strings = [0];
    private readonly Dictionary<string, uint> _stringOffsets = new() { [""] = 0 };
    private int _count;

    public uint Int(string name, int bytes, bool signed = false) =>
        Add(name, BtfKind.Int, 0, false, (uint)bytes, U32(((signed ? 1u : 0u) << 24) | (uint)(bytes * 8)));

    public uint Pointer(uint target) => Add("", BtfKind.Pointer, 0, false, target);

    public uint Typedef(string name, uint target) => Add(name, BtfKind.Typedef, 0, false, target);

    public uint Const(uint target) => Add("", BtfKind.Const, 0, false, target);

    public uint Array(uint element, uint index, uint length) => Add("", BtfKind.Array, 0, false, 0, U32(element), U32(index), U32(length));

    /// <summary>A struct or union; members as (name, type, bit offset, bitfield size); any bitfield sets kind_flag.</summary>
    public uint Aggregate(BtfKind kind, string name, uint size, params (string Name, uint Type, uint BitOffset, int Bits)[] members)
    {
        bool kindFlag = members.Any(m => m.Bits > 0);
        var tail = new List<byte>();
        foreach (var m in members)
        {
            tail.AddRange(U32(Str(m.Name)));
            tail.AddRange(U32(m.Type));
            tail.AddRange(U32(kindFlag ? ((uint)m.Bits << 24) | m.BitOffset : m.BitOffset));
        }
        return Add(name, kind, members.Length, kindFlag, size, tail.ToArray());
    }

    public uint Enum64(string name, params (string Name, long Value)[] values)
    {
        var tail = new List<byte>();
        foreach (var v in values)
        {
            tail.AddRange(U32(Str(v.Name)));
            tail.AddRange(U32((uint)v.Value));
            tail.AddRange(U32((uint)((ulong)v.Value >> 32)));
        }
        return Add(name, BtfKind.Enum64, values.Length, false, 8, tail.ToArray());
    }

    public uint Enum(string name, params (string Name, int Value)[] values)
    {
        var tail = new List<byte>();
        foreach (var v in values)
        {
            tail.AddRange(U32(Str(v.Name)));
            tail.AddRange(U32((uint)v.Value));
        }
        return Add(name, BtfKind.Enum, values.Length, true, 4, tail.ToArray());
    }

    public uint Raw(string name, BtfKind kind, int vlen, uint sizeOrType, params byte[][] tail) =>
        Add(name, kind, vlen, false, sizeOrType, tail.SelectMany(t => t).ToArray());

    public byte[] Build()
    {
        byte[] blob = new byte[24 + _types.Count + _strings.Count];
        BinaryPrimitives.WriteUInt16LittleEndian(blob, BtfTypes.Magic);
        blob[2] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(12), (uint)_types.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(16), (uint)_types.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(20), (uint)_strings.Count);
        _types.CopyTo(blob, 24);
        _strings.CopyTo(blob, 24 + _types.Count);
        return blob;
    }

    private uint Add(string name, BtfKind kind, int vlen, bool kindFlag, uint sizeOrType, params byte[][] tail)
    {
        _types.AddRange(U32(Str(name)));
        _types.AddRange(U32((kindFlag ? 0x8000_0000u : 0) | ((uint)kind << 24) | (uint)vlen));
        _types.AddRange(U32(sizeOrType));
        foreach (byte[] t in tail)
            _types.AddRange(t);
        return (uint)++_count;
    }

    private uint Str(string s)
    {
        if (_stringOffsets.TryGetValue(s, out uint at))
            return at;
        at = (uint)_strings.Count;
        _strings.AddRange(Encoding.UTF8.GetBytes(s));
        _strings.Add(0);
        _stringOffsets[s] = at;
        return at;
    }

    private static byte[] U32(uint v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }
}
