namespace KdumpSharp.Btf;

/// <summary>
/// One BTF type record, <c>struct btf_type { u32 name_off; u32 info; u32 size_or_type; }</c>
/// (include/uapi/linux/btf.h): info bits 0–15 vlen, 24–28 kind, 31 kind_flag. <see cref="SizeOrType"/>
/// is a byte size for INT, STRUCT, UNION, ENUM, ENUM64, DATASEC and FLOAT, a type id otherwise.
/// Members, parameters and enumerators live in <see cref="BtfTypes"/> from <see cref="FirstItem"/>.
/// </summary>
public readonly record struct BtfType(
    int Id,
    BtfKind Kind,
    string Name,
    bool KindFlag,
    int Vlen,
    uint SizeOrType,
    int FirstItem,
    uint ArrayElementType = 0,
    uint ArrayLength = 0,
    uint IntEncoding = 0)
{
    /// <summary>INT encoding bit 0 (BTF_INT_SIGNED).</summary>
    public bool IsSignedInt => Kind == BtfKind.Int && (IntEncoding & 0x0100_0000) != 0;

    /// <summary>INT width in bits (BTF_INT_BITS).</summary>
    public int IntBits => (int)(IntEncoding & 0xff);

    /// <summary>ENUM/ENUM64 kind_flag: values are signed.</summary>
    public bool IsSignedEnum => KindFlag;
}

/// <summary>A struct or union member: <c>struct btf_member { name_off; type; offset; }</c>; offsets are in bits.</summary>
public readonly record struct BtfMember(string Name, uint Type, uint BitOffset, int BitfieldSize);

/// <summary>An enumerator of ENUM (<c>btf_enum</c>, s32/u32) or ENUM64 (<c>btf_enum64</c>, lo32/hi32).</summary>
public readonly record struct BtfEnumerator(string Name, long Value);

/// <summary>A function prototype parameter (<c>btf_param</c>), or a DATASEC variable (<c>btf_var_secinfo</c> type, offset, size).</summary>
public readonly record struct BtfItem(string Name, uint Type, uint Offset, uint Size);
