using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace KdumpSharp.Btf;

/// <summary>
/// Renders a BTF type's layout (member offsets and sizes, like crash's <c>struct -o</c>) or an
/// instance's member values (like crash's <c>struct TYPE ADDRESS</c>). Output is capped so a huge
/// or corrupt type cannot flood the terminal.
/// </summary>
public sealed class BtfFormatter(BtfTypes types)
{
    /// <summary>Array elements shown before "..." (char arrays print as a string instead).</summary>
    public const int MaxArrayElements = 16;

    public const int MaxLines = 20_000;

    private const int MaxNesting = 16;

    /// <summary>One line per member, nested structs and unions expanded, offsets in bytes from the outer type's start.</summary>
    public IReadOnlyList<string> Layout(BtfType type)
    {
        var lines = new List<string> { $"{types.TypeName((uint)type.Id)} {{" };
        LayoutMembers(type, 0, 1, lines);
        lines.Add($"}}  SIZE: {types.SizeOf((uint)type.Id)} (0x{types.SizeOf((uint)type.Id):x})");
        return lines;
    }

    private void LayoutMembers(BtfType type, ulong baseBits, int depth, List<string> lines)
    {
        foreach (BtfMember m in types.Members(type))
        {
            if (lines.Count >= MaxLines)
                return;
            string indent = new(' ', depth * 2);
            ulong bits = baseBits + m.BitOffset;
            string offset = m.BitfieldSize > 0 || bits % 8 != 0 ? $"0x{bits / 8:x}:{bits % 8}" : $"0x{bits / 8:x}";
            BtfType resolved = types.Resolve(m.Type);
            string name = m.Name.Length == 0 ? "" : " " + m.Name;
            string width = m.BitfieldSize > 0 ? $":{m.BitfieldSize}" : "";
            if (resolved.Kind is BtfKind.Struct or BtfKind.Union && (m.Name.Length == 0 || resolved.Name.Length == 0) && depth < MaxNesting)
            {
                lines.Add($"{indent}[{offset}] {(resolved.Kind == BtfKind.Struct ? "struct" : "union")} {{");
                LayoutMembers(resolved, bits, depth + 1, lines);
                lines.Add($"{indent}}}{name};");
            }
            else
                lines.Add($"{indent}[{offset}] {types.TypeName(m.Type)}{name}{width};");
        }
    }

    /// <summary>The values of an instance whose bytes are <paramref name="bytes"/> (exactly the type's size).</summary>
    public IReadOnlyList<string> Values(BtfType type, ReadOnlySpan<byte> bytes, ulong address)
    {
        var lines = new List<string> { $"{types.TypeName((uint)type.Id)} at 0x{address:x} {{" };
        ValueMembers(type, bytes, 0, 1, lines);
        lines.Add("}");
        return lines;
    }

    private void ValueMembers(BtfType type, ReadOnlySpan<byte> bytes, ulong baseBits, int depth, List<string> lines)
    {
        foreach (BtfMember m in types.Members(type))
        {
            if (lines.Count >= MaxLines)
            {
                lines.Add("  ... (output capped)");
                return;
            }
            string indent = new(' ', depth * 2);
            string name = m.Name.Length == 0 ? "" : m.Name + " = ";
            ulong bits = baseBits + m.BitOffset;
            BtfType resolved = types.Resolve(m.Type);
            if (resolved.Kind is BtfKind.Struct or BtfKind.Union && depth < MaxNesting)
            {
                lines.Add($"{indent}{name}{{");
                ValueMembers(resolved, bytes, bits, depth + 1, lines);
                lines.Add($"{indent}}},");
                continue;
            }
            lines.Add($"{indent}{name}{Scalar(m.Type, bytes, bits, m.BitfieldSize)},");
        }
    }

    /// <summary>A non-aggregate value: integer (bitfields included), enum name, pointer, char array as a string, other arrays element by element.</summary>
    public string Scalar(uint typeId, ReadOnlySpan<byte> bytes, ulong bitOffset, int bitfieldSize)
    {
        BtfType t = types.Resolve(typeId);
        ulong size = types.SizeOf(typeId);
        ulong byteOffset = bitOffset / 8;
        if (byteOffset + Math.Max(size, 1) > (ulong)bytes.Length && bitfieldSize == 0)
            return "<beyond the instance>";
        switch (t.Kind)
        {
            case BtfKind.Array:
                return ArrayText(t, bytes, byteOffset);
            case BtfKind.Pointer:
                return $"0x{BinaryPrimitives.ReadUInt64LittleEndian(bytes[(int)byteOffset..]):x}";
            case BtfKind.Int or BtfKind.Enum or BtfKind.Enum64:
                ulong raw = ReadBits(bytes, bitOffset, bitfieldSize > 0 ? bitfieldSize : (int)Math.Min(size * 8, 64));
                if (t.Kind != BtfKind.Int)
                    foreach (BtfEnumerator e in types.Enumerators(t))
                        if ((ulong)e.Value == raw)
                            return e.Name;
                if (t.IsSignedInt && size <= 8)
                {
                    int width = bitfieldSize > 0 ? bitfieldSize : (int)size * 8;
                    long signed = width < 64 && (raw & (1UL << (width - 1))) != 0 ? (long)(raw | ~((1UL << width) - 1)) : (long)raw;
                    return signed.ToString(CultureInfo.InvariantCulture);
                }
                return raw < 10 ? raw.ToString(CultureInfo.InvariantCulture) : $"0x{raw:x}";
            default:
                return size == 0 ? "" : $"<{types.TypeName(typeId)}>";
        }
    }

    private string ArrayText(BtfType array, ReadOnlySpan<byte> bytes, ulong byteOffset)
    {
        BtfType element = types.Resolve(array.ArrayElementType);
        ulong elementSize = types.SizeOf(array.ArrayElementType);
        ulong total = elementSize * array.ArrayLength;
        if (byteOffset + total > (ulong)bytes.Length)
            return "<beyond the instance>";
        if (element.Kind == BtfKind.Int && elementSize == 1)
        {
            ReadOnlySpan<byte> chars = bytes.Slice((int)byteOffset, (int)total);
            int nul = chars.IndexOf((byte)0);
            var text = new StringBuilder("\"");
            foreach (byte b in nul >= 0 ? chars[..nul] : chars)
                text.Append(b is >= 0x20 and < 0x7f ? (char)b : $"\\x{b:x2}");
            return text.Append('"').ToString();
        }
        if (element.Kind is BtfKind.Struct or BtfKind.Union)
            return $"<{array.ArrayLength} × {types.TypeName(array.ArrayElementType)}>";
        var parts = new List<string>();
        for (ulong i = 0; i < array.ArrayLength && i < MaxArrayElements; i++)
            parts.Add(Scalar(array.ArrayElementType, bytes, (byteOffset + i * elementSize) * 8, 0));
        if (array.ArrayLength > MaxArrayElements)
            parts.Add("...");
        return "{" + string.Join(", ", parts) + "}";
    }

    private static ulong ReadBits(ReadOnlySpan<byte> bytes, ulong bitOffset, int bitCount)
    {
        ulong value = 0;
        for (int i = 0; i < bitCount; i++)
        {
            ulong bit = bitOffset + (ulong)i;
            if (bit / 8 >= (ulong)bytes.Length)
                break;
            if ((bytes[(int)(bit / 8)] & (1 << (int)(bit % 8))) != 0)
                value |= 1UL << i;
        }
        return value;
    }
}
