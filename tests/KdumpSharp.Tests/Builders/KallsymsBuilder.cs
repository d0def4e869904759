using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Symbols;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Writes kallsyms tables (scripts/kallsyms.c layout) into test kernel memory: a token table whose
/// tokens are the single characters plus two multi-character tokens ("_st", "ext"), names encoded
/// greedily, addresses as absolute-percpu offsets from a relative base.
/// </summary>
internal sealed class KallsymsBuilder
{
    public const ulong RelativeBase = 0xffff_ffff_8100_0000;

    private readonly List<(char Type, string Name, ulong Address)> _symbols = [];

    public KallsymsBuilder Add(char type, string name, ulong address)
    {
        _symbols.Add((type, name, address));
        return this;
    }

    /// <summary>Places the tables and returns where they are; <paramref name="longNames"/> selects the 6.1 two-byte length.</summary>
    public KallsymsLocation Write(KernelMemoryBuilder memory, bool longNames = true)
    {
        var tokens = new string[256];
        for (int i = 0; i < 256; i++)
            tokens[i] = ((char)i).ToString();
        tokens[1] = "_st";
        tokens[2] = "ext";
        var table = new List<byte>();
        var index = new byte[512];
        for (int i = 0; i < 256; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(index.AsSpan(i * 2), (ushort)table.Count);
            table.AddRange(Encoding.Latin1.GetBytes(tokens[i]));
            table.Add(0);
        }
        var names = new List<byte>();
        var offsets = new byte[_symbols.Count * 4];
        for (int s = 0; s < _symbols.Count; s++)
        {
            List<byte> encoded = Encode(_symbols[s].Type + _symbols[s].Name);
            if (encoded.Count >= 0x80)
            {
                if (!longNames)
                    throw new ArgumentException("names of 128 tokens or more need the 6.1 encoding");
                names.Add((byte)(0x80 | (encoded.Count & 0x7f)));
                names.Add((byte)(encoded.Count >> 7));
            }
            else
                names.Add((byte)encoded.Count);
            names.AddRange(encoded);
            ulong address = _symbols[s].Address;
            int value = address < 0x8000_0000 ? (int)address : (int)-(long)(address - RelativeBase + 1);
            BinaryPrimitives.WriteInt32LittleEndian(offsets.AsSpan(s * 4), value);
        }
        ulong numSyms = memory.Allocate(4);
        memory.WriteUInt32(numSyms, (uint)_symbols.Count);
        ulong namesAt = memory.Place(names.ToArray());
        ulong tableAt = memory.Place(table.ToArray());
        ulong indexAt = memory.Place(index);
        ulong offsetsAt = memory.Place(offsets);
        ulong baseAt = memory.Allocate(8);
        memory.WriteUInt64(baseAt, RelativeBase);
        ulong stext = _symbols.First(s => s.Name == "_stext").Address;
        return new KallsymsLocation(numSyms, namesAt, tableAt, indexAt, offsetsAt, baseAt, stext, longNames);
    }

    private static List<byte> Encode(string text)
    {
        var bytes = new List<byte>();
        for (int i = 0; i < text.Length;)
        {
            if (string.CompareOrdinal(text, i, "_st", 0, 3) == 0) { bytes.Add(1); i += 3; }
            else if (string.CompareOrdinal(text, i, "ext", 0, 3) == 0) { bytes.Add(2); i += 3; }
            else bytes.Add((byte)text[i++]);
        }
        return bytes;
    }
}
