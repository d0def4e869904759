namespace KdumpSharp.Btf;

/// <summary>BTF_KIND_* (include/uapi/linux/btf.h); ENUM64 arrived in 6.0 and pahole 1.24 emits it.</summary>
public enum BtfKind
{
    Unknown = 0,
    Int = 1,
    Pointer = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Forward = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Function = 12,
    FunctionProto = 13,
    Variable = 14,
    DataSection = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}
