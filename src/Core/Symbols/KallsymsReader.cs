using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Text;

namespace KdumpSharp.Symbols;

/// <summary>
/// Decodes kallsyms from the dump's memory. Layout (scripts/kallsyms.c, kernel/kallsyms.c):
/// <c>kallsyms_num_syms</c> (u32); <c>kallsyms_names</c>, per symbol a length (one byte, or since
/// 6.1 two when bit 7 of the first is set: low 7 bits, then the next byte &lt;&lt; 7) followed by
/// that many token indices; <c>kallsyms_token_index</c>, 256 u16 offsets into
/// <c>kallsyms_token_table</c>'s NUL-terminated strings. The first decoded character is the nm
/// type. Addresses come from <c>kallsyms_offsets</c> (s32 each) in one of several encodings,
/// chosen by which one puts <c>_stext</c> where VMCOREINFO says it is.
/// </summary>
public static class KallsymsReader
{
    /// <summary>More symbols than any kernel has (Debian 6.1 has about 190 000, allyesconfig under 1 M).</summary>
    public const uint MaxSymbols = 4_000_000;

    private const int NameChunk = 64 << 10;
    private const int MaxTokenTableBytes = 64 << 10;

    /// <summary>How kallsyms_offsets encode addresses (init/Kconfig KALLSYMS_BASE_RELATIVE, KALLSYMS_ABSOLUTE_PERCPU).</summary>
    public enum AddressEncoding
    {
        /// <summary>Non-negative values are absolute (per-CPU offsets), negative ones relative_base − 1 − value (x86_64 up to 6.14).</summary>
        AbsolutePerCpu,
        /// <summary>relative_base + (u32)value.</summary>
        BaseRelative,
        /// <summary>Address of the entry itself + value (7.0+).</summary>
        PlaceRelative,
    }

    public static SymbolTable Read(VirtualMemory memory, KallsymsLocation where)
    {
        uint count = memory.ReadUInt32(where.NumSyms);
        if (count == 0 || count > MaxSymbols)
            throw new KernelDataException($"kallsyms_num_syms is {count}, not a plausible symbol count");
        string[] tokens = ReadTokens(memory, where);
        var names = new string[count];
        var types = new char[count];
        DecodeNames(memory, where.Names, where.LongNames, tokens, names, types);
        byte[] offsets = new byte[checked((int)count * 4)];
        memory.Read(where.Offsets, offsets);
        ulong relativeBase = memory.ReadUInt64(where.RelativeBase);
        AddressEncoding encoding = DetectEncoding(names, offsets, relativeBase, where.Offsets, where.Stext);
        var symbols = new KernelSymbol[count];
        for (int i = 0; i < count; i++)
            symbols[i] = new KernelSymbol(names[i], Address(encoding, offsets, i, relativeBase, where.Offsets), types[i]);
        return new SymbolTable(symbols, $"kallsyms ({encoding})");
    }

    private static string[] ReadTokens(VirtualMemory memory, KallsymsLocation where)
    {
        Span<byte> indexBytes = stackalloc byte[512];
        memory.Read(where.TokenIndex, indexBytes);
        int maxOffset = 0;
        for (int i = 0; i < 256; i++)
            maxOffset = Math.Max(maxOffset, BinaryPrimitives.ReadUInt16LittleEndian(indexBytes[(i * 2)..]));
        // A token is a few bytes; 256 more than the last offset covers the last token.
        int length = Math.Min(maxOffset + 256, MaxTokenTableBytes + 256);
        byte[] table = ReadUpTo(memory, where.TokenTable, length);
        var tokens = new string[256];
        for (int i = 0; i < 256; i++)
        {
            int start = BinaryPrimitives.ReadUInt16LittleEndian(indexBytes[(i * 2)..]);
            int end = start < table.Length ? table.AsSpan(start).IndexOf((byte)0) : -1;
            if (end < 0)
                throw new KernelDataException($"kallsyms token {i} at offset {start} of kallsyms_token_table is not NUL-terminated");
            tokens[i] = Encoding.Latin1.GetString(table, start, end);
        }
        return tokens;
    }

    /// <summary>Reads up to <paramref name="length"/> bytes, fewer if the mapping ends first (the table may end a page early).</summary>
    private static byte[] ReadUpTo(VirtualMemory memory, ulong address, int length)
    {
        byte[] buffer = new byte[length];
        int done = 0;
        while (done < length)
        {
            int chunk = (int)Math.Min((ulong)(length - done), PageFrameNumber.PageSize - ((address + (ulong)done) & (PageFrameNumber.PageSize - 1)));
            try
            {
                memory.Read(address + (ulong)done, buffer.AsSpan(done, chunk));
            }
            catch (MemoryFaultException) when (done > 0)
            {
                return buffer[..done];
            }
            done += chunk;
        }
        return buffer;
    }

    private static void DecodeNames(VirtualMemory memory, ulong address, bool longNames, string[] tokens, string[] names, char[] types)
    {
        var reader = new ChunkedReader(memory, address);
        var builder = new StringBuilder(64);
        for (int i = 0; i < names.Length; i++)
        {
            int length = reader.Next();
            if (longNames && (length & 0x80) != 0)
                length = (length & 0x7f) | (reader.Next() << 7);
            if (length == 0)
                throw new KernelDataException($"kallsyms_names entry {i} (at 0x{reader.Position - 1:x}) has length 0");
            builder.Clear();
            for (int j = 0; j < length; j++)
                builder.Append(tokens[reader.Next()]);
            if (builder.Length < 2)
                throw new KernelDataException($"kallsyms_names entry {i} decodes to {OneLineText.Quote(builder.ToString())}, too short for a type and a name");
            types[i] = builder[0];
            names[i] = builder.ToString(1, builder.Length - 1);
        }
    }

    private static AddressEncoding DetectEncoding(string[] names, byte[] offsets, ulong relativeBase, ulong offsetsAddress, ulong stext)
    {
        int index = Array.IndexOf(names, "_stext");
        if (index < 0)
            throw new KernelDataException("kallsyms has no _stext symbol, so its address encoding cannot be checked");
        foreach (AddressEncoding encoding in Enum.GetValues<AddressEncoding>())
            if (Address(encoding, offsets, index, relativeBase, offsetsAddress) == stext)
                return encoding;
        throw new KernelDataException($"no kallsyms address encoding puts _stext at VMCOREINFO's 0x{stext:x} (relative_base 0x{relativeBase:x})");
    }

    private static ulong Address(AddressEncoding encoding, byte[] offsets, int index, ulong relativeBase, ulong offsetsAddress)
    {
        int value = BinaryPrimitives.ReadInt32LittleEndian(offsets.AsSpan(index * 4));
        return encoding switch
        {
            AddressEncoding.AbsolutePerCpu => value >= 0 ? (ulong)value : relativeBase - 1 - (ulong)(long)value,
            AddressEncoding.BaseRelative => relativeBase + (uint)value,
            _ => offsetsAddress + (ulong)(index * 4) + (ulong)(long)value,
        };
    }

    /// <summary>Sequential byte reads over kernel memory in 64 KiB chunks.</summary>
    private sealed class ChunkedReader(VirtualMemory memory, ulong start)
    {
        private byte[] _buffer = [];
        private int _at;
        private ulong _bufferAddress = start;

        public ulong Position => _bufferAddress + (ulong)_at;

        public int Next()
        {
            if (_at >= _buffer.Length)
            {
                _bufferAddress += (ulong)_buffer.Length;
                _buffer = ReadUpTo(memory, _bufferAddress, NameChunk);
                _at = 0;
            }
            return _buffer[_at++];
        }
    }
}
