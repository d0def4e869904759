using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Kernel;
using KdumpSharp.Text;

namespace KdumpSharp.Btf;

/// <summary>
/// A parsed BTF blob (include/uapi/linux/btf.h): header <c>{u16 magic 0xEB9F; u8 version 1; u8 flags;
/// u32 hdr_len; u32 type_off, type_len, str_off, str_len}</c>, offsets counted from the header's end;
/// types packed from id 1 (0 is void), each a <see cref="BtfType"/> record followed by its kind's
/// tail. vmlinux BTF lies in the kernel image between <c>__start_BTF</c> and <c>__stop_BTF</c>
/// (include/asm-generic/vmlinux.lds.h), the bytes /sys/kernel/btf/vmlinux serves.
/// </summary>
public sealed class BtfTypes
{
    public const ushort Magic = 0xeb9f;

    /// <summary>More types than any kernel has (Debian 6.1 vmlinux: about 130 000).</summary>
    public const int MaxTypes = 2_000_000;

    /// <summary>Deeper typedef/const/anonymous-member nesting than real C produces; beyond it the chain is a loop.</summary>
    private const int MaxDepth = 64;

    private const int HeaderSize = 24;
    private const int RecordSize = 12;

    private readonly List<BtfType> _types = [new BtfType(0, BtfKind.Unknown, "void", false, 0, 0, 0)];
    private readonly List<BtfMember> _members = [];
    private readonly List<BtfEnumerator> _enumerators = [];
    private readonly List<BtfItem> _items = [];
    private readonly Dictionary<string, List<int>> _byName = new(StringComparer.Ordinal);

    private BtfTypes()
    {
    }

    public int Count => _types.Count - 1;

    public BtfType this[uint id] => id < (uint)_types.Count ? _types[(int)id] : throw new KernelDataException($"BTF type id {id} is out of range (the blob has {Count} types)");

    public static BtfTypes Parse(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < HeaderSize)
            throw new KernelDataException($"BTF blob of {blob.Length} bytes is shorter than its header");
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(blob);
        if (magic != Magic)
            throw new KernelDataException($"BTF magic is 0x{magic:x4}, expected 0x{Magic:x4}");
        if (blob[2] != 1)
            throw new KernelDataException($"BTF version {blob[2]} is not 1");
        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(blob[4..]);
        uint typeOff = BinaryPrimitives.ReadUInt32LittleEndian(blob[8..]);
        uint typeLen = BinaryPrimitives.ReadUInt32LittleEndian(blob[12..]);
        uint strOff = BinaryPrimitives.ReadUInt32LittleEndian(blob[16..]);
        uint strLen = BinaryPrimitives.ReadUInt32LittleEndian(blob[20..]);
        ulong body = (ulong)blob.Length;
        if (headerLength < HeaderSize || headerLength > body
            || (ulong)headerLength + typeOff + typeLen > body || (ulong)headerLength + strOff + strLen > body)
            throw new KernelDataException($"BTF header sections (hdr_len {headerLength}, types {typeOff}+{typeLen}, strings {strOff}+{strLen}) exceed the {blob.Length}-byte blob");
        ReadOnlySpan<byte> types = blob.Slice((int)(headerLength + typeOff), (int)typeLen);
        ReadOnlySpan<byte> strings = blob.Slice((int)(headerLength + strOff), (int)strLen);
        var btf = new BtfTypes();
        btf.ReadTypes(types, strings);
        return btf;
    }

    private void ReadTypes(ReadOnlySpan<byte> types, ReadOnlySpan<byte> strings)
    {
        var names = new StringPool(strings);
        int at = 0;
        while (at < types.Length)
        {
            if (_types.Count > MaxTypes)
                throw new KernelDataException($"BTF has more than {MaxTypes} types");
            if (types.Length - at < RecordSize)
                throw new KernelDataException($"BTF type {_types.Count} at offset {at} is cut short");
            int id = _types.Count;
            string name = names.Get(BinaryPrimitives.ReadUInt32LittleEndian(types[at..]));
            uint info = BinaryPrimitives.ReadUInt32LittleEndian(types[(at + 4)..]);
            uint sizeOrType = BinaryPrimitives.ReadUInt32LittleEndian(types[(at + 8)..]);
            int vlen = (int)(info & 0xffff);
            var kind = (BtfKind)((info >> 24) & 0x1f);
            bool kindFlag = (info & 0x8000_0000) != 0;
            at += RecordSize;
            int tail = kind switch
            {
                BtfKind.Int or BtfKind.Variable or BtfKind.DeclTag => 4,
                BtfKind.Array => 12,
                BtfKind.Struct or BtfKind.Union or BtfKind.DataSection or BtfKind.Enum64 => 12 * vlen,
                BtfKind.Enum or BtfKind.FunctionProto => 8 * vlen,
                BtfKind.Pointer or BtfKind.Forward or BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict
                    or BtfKind.Function or BtfKind.Float or BtfKind.TypeTag => 0,
                _ => throw new KernelDataException($"BTF type {id} at offset {at - RecordSize} has unknown kind {(int)kind}"),
            };
            if (types.Length - at < tail)
                throw new KernelDataException($"BTF type {id} ({kind}, vlen {vlen}) runs past the type section");
            ReadOnlySpan<byte> t = types.Slice(at, tail);
            at += tail;
            BtfType type = kind switch
            {
                BtfKind.Int => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, 0, IntEncoding: U32(t, 0)),
                BtfKind.Array => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, 0, ArrayElementType: U32(t, 0), ArrayLength: U32(t, 8)),
                BtfKind.Struct or BtfKind.Union => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, AddMembers(t, vlen, kindFlag, names)),
                BtfKind.Enum or BtfKind.Enum64 => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, AddEnumerators(t, vlen, kind, kindFlag, names)),
                BtfKind.FunctionProto => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, AddItems(t, vlen, 8, names)),
                BtfKind.DataSection => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, AddItems(t, vlen, 12, names)),
                _ => new BtfType(id, kind, name, kindFlag, vlen, sizeOrType, 0),
            };
            _types.Add(type);
            if (name.Length > 0)
            {
                if (!_byName.TryGetValue(name, out List<int>? ids))
                    _byName[name] = ids = [];
                ids.Add(id);
            }
        }
    }

    private int AddMembers(ReadOnlySpan<byte> t, int vlen, bool kindFlag, StringPool names)
    {
        int first = _members.Count;
        for (int i = 0; i < vlen; i++)
        {
            uint offset = U32(t, i * 12 + 8);
            // kind_flag: bits 0–23 bit offset, 24–31 bitfield size (BTF_MEMBER_BIT_OFFSET/BITFIELD_SIZE).
            _members.Add(new BtfMember(names.Get(U32(t, i * 12)), U32(t, i * 12 + 4),
                kindFlag ? offset & 0xff_ffff : offset, kindFlag ? (int)(offset >> 24) : 0));
        }
        return first;
    }

    private int AddEnumerators(ReadOnlySpan<byte> t, int vlen, BtfKind kind, bool signed, StringPool names)
    {
        int first = _enumerators.Count;
        int stride = kind == BtfKind.Enum ? 8 : 12;
        for (int i = 0; i < vlen; i++)
        {
            uint lo = U32(t, i * stride + 4);
            long value = kind == BtfKind.Enum
                ? signed ? (int)lo : lo
                : (long)(((ulong)U32(t, i * stride + 8) << 32) | lo);
            _enumerators.Add(new BtfEnumerator(names.Get(U32(t, i * stride)), value));
        }
        return first;
    }

    private int AddItems(ReadOnlySpan<byte> t, int vlen, int stride, StringPool names)
    {
        int first = _items.Count;
        for (int i = 0; i < vlen; i++)
            _items.Add(stride == 8
                ? new BtfItem(names.Get(U32(t, i * 8)), U32(t, i * 8 + 4), 0, 0)
                : new BtfItem("", U32(t, i * 12), U32(t, i * 12 + 4), U32(t, i * 12 + 8)));
        return first;
    }

    private static uint U32(ReadOnlySpan<byte> t, int at) => BinaryPrimitives.ReadUInt32LittleEndian(t[at..]);

    public IReadOnlyList<BtfMember> Members(BtfType type) =>
        type.Kind is BtfKind.Struct or BtfKind.Union ? _members.GetRange(type.FirstItem, type.Vlen) : [];

    public IReadOnlyList<BtfEnumerator> Enumerators(BtfType type) =>
        type.Kind is BtfKind.Enum or BtfKind.Enum64 ? _enumerators.GetRange(type.FirstItem, type.Vlen) : [];

    public IReadOnlyList<BtfItem> Items(BtfType type) =>
        type.Kind is BtfKind.FunctionProto or BtfKind.DataSection ? _items.GetRange(type.FirstItem, type.Vlen) : [];

    /// <summary>The first type of <paramref name="kind"/> named <paramref name="name"/> (a complete one, not a FWD).</summary>
    public BtfType? Find(string name, BtfKind kind)
    {
        if (!_byName.TryGetValue(name, out List<int>? ids))
            return null;
        foreach (int id in ids)
            if (_types[id].Kind == kind)
                return _types[id];
        return null;
    }

    /// <summary>Finds a type by C spelling: "struct x", "union x", "enum x", or a bare name (struct, union, typedef, enum, int in that order).</summary>
    public BtfType? FindByCName(string text)
    {
        string t = text.Trim();
        foreach ((string prefix, BtfKind kind) in new[] { ("struct ", BtfKind.Struct), ("union ", BtfKind.Union), ("enum ", BtfKind.Enum) })
            if (t.StartsWith(prefix, StringComparison.Ordinal))
                return Find(t[prefix.Length..].Trim(), kind) ?? (kind == BtfKind.Enum ? Find(t[prefix.Length..].Trim(), BtfKind.Enum64) : null);
        foreach (BtfKind kind in new[] { BtfKind.Struct, BtfKind.Union, BtfKind.Typedef, BtfKind.Enum, BtfKind.Enum64, BtfKind.Int, BtfKind.Float })
            if (Find(t, kind) is BtfType found)
                return found;
        return null;
    }

    /// <summary>Follows typedef, const, volatile, restrict and type tags to the underlying type.</summary>
    public BtfType Resolve(uint id)
    {
        BtfType t = this[id];
        for (int depth = 0; t.Kind is BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile or BtfKind.Restrict or BtfKind.TypeTag; depth++)
        {
            if (depth >= MaxDepth)
                throw new KernelDataException($"BTF type {id} is a qualifier/typedef chain longer than {MaxDepth}: a loop");
            t = this[t.SizeOrType];
        }
        return t;
    }

    /// <summary>The size in bytes of a type (pointers are 8 bytes: x86_64).</summary>
    public ulong SizeOf(uint id)
    {
        try
        {
            return SizeOf(id, 0);
        }
        catch (OverflowException)
        {
            throw new KernelDataException($"BTF type {id} ({OneLineText.Escape(TypeName(id))}) has a size beyond 2^64 bytes");
        }
    }

    private ulong SizeOf(uint id, int depth)
    {
        if (depth >= MaxDepth)
            throw new KernelDataException($"BTF type {id} nests arrays deeper than {MaxDepth}: a loop");
        BtfType t = Resolve(id);
        return t.Kind switch
        {
            BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float or BtfKind.DataSection => t.SizeOrType,
            BtfKind.Pointer => 8,
            BtfKind.Array => checked(SizeOf(t.ArrayElementType, depth + 1) * t.ArrayLength),
            _ => 0,
        };
    }

    /// <summary>
    /// A member of a struct or union by name, searching anonymous struct/union members recursively
    /// (C lets their fields be named directly, e.g. task_struct's randomized-layout block).
    /// Returns the member and its bit offset from the start of <paramref name="container"/>.
    /// </summary>
    public (BtfMember Member, ulong BitOffset)? FindMember(BtfType container, string name) => FindMember(container, name, 0);

    private (BtfMember Member, ulong BitOffset)? FindMember(BtfType container, string name, int depth)
    {
        if (depth >= MaxDepth)
            throw new KernelDataException($"BTF type {container.Id} nests anonymous members deeper than {MaxDepth}: a loop");
        foreach (BtfMember m in Members(container))
        {
            if (m.Name == name)
                return (m, m.BitOffset);
            if (m.Name.Length == 0)
            {
                BtfType inner = Resolve(m.Type);
                if (inner.Kind is BtfKind.Struct or BtfKind.Union && FindMember(inner, name, depth + 1) is var (found, offset))
                    return (found, m.BitOffset + offset);
            }
        }
        return null;
    }

    /// <summary>The value of a named enumerator in any enum (e.g. NR_FREE_PAGES of enum zone_stat_item).</summary>
    public long? EnumeratorValue(string name)
    {
        foreach (BtfEnumerator e in _enumerators)
            if (e.Name == name)
                return e.Value;
        return null;
    }

    /// <summary>The C spelling of a type for display: "struct list_head", "char [16]", "int *".</summary>
    public string TypeName(uint id) => TypeName(id, 0);

    private string TypeName(uint id, int depth)
    {
        if (depth >= MaxDepth)
            return "...";
        BtfType t = this[id];
        string Named(string prefix) => t.Name.Length == 0 ? $"{prefix} {{...}}" : $"{prefix} {t.Name}";
        return t.Kind switch
        {
            BtfKind.Unknown => "void",
            BtfKind.Struct => Named("struct"),
            BtfKind.Union => Named("union"),
            BtfKind.Enum or BtfKind.Enum64 => Named("enum"),
            BtfKind.Forward => (t.KindFlag ? "union " : "struct ") + t.Name,
            BtfKind.Pointer => TypeName(t.SizeOrType, depth + 1) + " *",
            BtfKind.Array => $"{TypeName(t.ArrayElementType, depth + 1)} [{t.ArrayLength}]",
            BtfKind.Const => "const " + TypeName(t.SizeOrType, depth + 1),
            BtfKind.Volatile => "volatile " + TypeName(t.SizeOrType, depth + 1),
            BtfKind.Restrict => TypeName(t.SizeOrType, depth + 1) + " restrict",
            BtfKind.TypeTag => TypeName(t.SizeOrType, depth + 1),
            BtfKind.FunctionProto => TypeName(t.SizeOrType, depth + 1) + " (*)(...)",
            _ => t.Name,
        };
    }

    /// <summary>The NUL-terminated string pool; offsets outside it are errors, never silent empties.</summary>
    private sealed class StringPool(ReadOnlySpan<byte> bytes)
    {
        private readonly byte[] _bytes = bytes.ToArray();
        private readonly Dictionary<uint, string> _cache = new();

        public string Get(uint offset)
        {
            if (_cache.TryGetValue(offset, out string? s))
                return s;
            if (offset >= (uint)_bytes.Length)
                throw new KernelDataException($"BTF name offset {offset} is outside the {_bytes.Length}-byte string section");
            int end = Array.IndexOf(_bytes, (byte)0, (int)offset);
            if (end < 0)
                throw new KernelDataException($"BTF string at offset {offset} is not NUL-terminated");
            s = Encoding.UTF8.GetString(_bytes, (int)offset, end - (int)offset);
            _cache[offset] = s;
            return s;
        }
    }
}
