using System.Buffers.Binary;
using KdumpSharp.Kernel;

namespace KdumpSharp.Unwind;

/// <summary>Which layout the kernel's <c>struct orc_entry</c> has (arch/x86/include/asm/orc_types.h).</summary>
public enum OrcFormat
{
    /// <summary>4.14–6.2: <c>sp_reg:4, bp_reg:4, type:2, end:1</c>; types CALL 0, REGS 1, REGS_PARTIAL 2.</summary>
    Original,
    /// <summary>6.3: <c>sp_reg:4, bp_reg:4, type:2, signal:1, end:1</c>; same types.</summary>
    WithSignal,
    /// <summary>6.4+: <c>sp_reg:4, bp_reg:4, type:3, signal:1</c>; types UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3, REGS_PARTIAL 4.</summary>
    TypedEnd,
}

/// <summary>How a frame's caller is found (ORC_TYPE_*), normalized across <see cref="OrcFormat"/>s.</summary>
public enum OrcType
{
    Undefined,
    EndOfStack,
    Call,
    Regs,
    RegsPartial,
}

/// <summary>ORC_REG_* base registers (the same numbering 4.14–7.0).</summary>
public enum OrcRegister
{
    Undefined = 0,
    PreviousSp = 1,
    Dx = 2,
    Di = 3,
    Bp = 4,
    Sp = 5,
    R10 = 6,
    R13 = 7,
    BpIndirect = 8,
    SpIndirect = 9,
}

/// <summary>
/// One decoded 6-byte <c>struct orc_entry { s16 sp_offset; s16 bp_offset; u16 bits; }</c>, packed,
/// bitfields little-endian from bit 0 of the third halfword.
/// </summary>
public readonly record struct OrcEntry(short SpOffset, short BpOffset, OrcRegister SpRegister, OrcRegister BpRegister, OrcType Type, bool Signal)
{
    public const int Size = 6;

    public static OrcEntry Decode(ReadOnlySpan<byte> bytes, OrcFormat format)
    {
        short sp = BinaryPrimitives.ReadInt16LittleEndian(bytes);
        short bp = BinaryPrimitives.ReadInt16LittleEndian(bytes[2..]);
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);
        var spReg = (OrcRegister)(bits & 0xf);
        var bpReg = (OrcRegister)((bits >> 4) & 0xf);
        if (format == OrcFormat.TypedEnd)
        {
            int t = (bits >> 8) & 0x7;
            OrcType type = t switch { 1 => OrcType.EndOfStack, 2 => OrcType.Call, 3 => OrcType.Regs, 4 => OrcType.RegsPartial, _ => OrcType.Undefined };
            return new OrcEntry(sp, bp, spReg, bpReg, type, ((bits >> 11) & 1) != 0);
        }
        int oldType = (bits >> 8) & 0x3;
        bool end = format == OrcFormat.Original ? ((bits >> 10) & 1) != 0 : ((bits >> 11) & 1) != 0;
        bool signal = format == OrcFormat.WithSignal && ((bits >> 10) & 1) != 0;
        // Before 6.4 the end of the stack is the end bit with an undefined SP, and "no information" is an undefined SP alone.
        OrcType normalized = spReg == OrcRegister.Undefined
            ? end ? OrcType.EndOfStack : OrcType.Undefined
            : oldType switch { 0 => OrcType.Call, 1 => OrcType.Regs, 2 => OrcType.RegsPartial, _ => OrcType.Undefined };
        // REGS and REGS_PARTIAL frames are signal frames by definition before the explicit bit.
        return new OrcEntry(sp, bp, spReg, bpReg, normalized, signal || normalized is OrcType.Regs or OrcType.RegsPartial);
    }

    /// <summary>
    /// The layout from the kernel's own BTF description of <c>struct orc_entry</c> when present
    /// (member names "end" and "signal"), else from the release: 6.3 added signal, 6.4 dropped end.
    /// </summary>
    public static OrcFormat DetectFormat(bool? hasEnd, bool? hasSignal, string? osRelease)
    {
        if (hasEnd is bool end && hasSignal is bool signal)
            return (end, signal) switch
            {
                (true, false) => OrcFormat.Original,
                (true, true) => OrcFormat.WithSignal,
                (false, true) => OrcFormat.TypedEnd,
                _ => throw new KernelDataException("the kernel's struct orc_entry has neither an end nor a signal member: unknown ORC format"),
            };
        string[] parts = (osRelease ?? "").Split('.', '-', '+');
        if (parts.Length >= 2 && int.TryParse(parts[0], out int major) && int.TryParse(parts[1], out int minor))
            return major > 6 || (major == 6 && minor >= 4) ? OrcFormat.TypedEnd : major == 6 && minor == 3 ? OrcFormat.WithSignal : OrcFormat.Original;
        throw new KernelDataException($"cannot tell the ORC format of release \"{osRelease}\" and the BTF has no struct orc_entry");
    }
}
