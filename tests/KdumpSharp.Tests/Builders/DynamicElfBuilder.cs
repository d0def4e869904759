using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds a minimal ELF64 little-endian executable or shared object with the parts the dynamic
/// loader reads: a PT_LOAD over the whole file (virtual address = file offset + <see cref="LoadAddress"/>),
/// an optional PT_INTERP and a PT_DYNAMIC with DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH,
/// DT_STRTAB and DT_STRSZ. No code, no sections: enough for a dependency walk, not to run.
/// </summary>
internal sealed class DynamicElfBuilder
{
    public const int HeaderSize = 64;
    public const int ProgramHeaderSize = 56;
    public const int DynamicEntrySize = 16;
    public const ushort MachineX86_64 = 62;
    public const ushort MachineAarch64 = 183;

    public ushort Machine { get; init; } = MachineX86_64;
    public ushort Type { get; init; } = 3; // ET_DYN
    public string? Interpreter { get; init; }
    public IReadOnlyList<string> Needed { get; init; } = [];
    public string? SoName { get; init; }
    public string? RPath { get; init; }
    public string? RunPath { get; init; }

    /// <summary>Omit PT_DYNAMIC entirely, as a static executable does.</summary>
    public bool Static { get; init; }

    public ulong LoadAddress { get; init; } = 0x400000;

    /// <summary>File offsets of the parts, set by <see cref="Build"/> for tests that corrupt one.</summary>
    public sealed record Layout(byte[] Bytes, int ProgramHeaders, int StringTable, int Dynamic, int DynamicCount);

    public byte[] Build() => BuildWithLayout().Bytes;

    public Layout BuildWithLayout()
    {
        bool hasDynamic = !Static;
        int phnum = 1 + (Interpreter is null ? 0 : 1) + (hasDynamic ? 1 : 0);
        int phoff = HeaderSize;
        int cursor = phoff + phnum * ProgramHeaderSize;

        int interpOffset = cursor;
        byte[] interp = Interpreter is null ? [] : Encoding.UTF8.GetBytes(Interpreter + "\0");
        cursor += interp.Length;

        // String table: a leading NUL (offset 0 is the empty string), then each string once.
        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        var offsets = new Dictionary<string, ulong>();
        ulong Add(string s)
        {
            if (!offsets.TryGetValue(s, out ulong at))
            {
                at = (ulong)strtab.Length;
                byte[] b = Encoding.UTF8.GetBytes(s + "\0");
                strtab.Write(b);
                offsets[s] = at;
            }
            return at;
        }
        var dyn = new List<(long Tag, ulong Value)>();
        foreach (string n in Needed)
            dyn.Add((1, Add(n)));
        if (SoName is not null) dyn.Add((14, Add(SoName)));
        if (RPath is not null) dyn.Add((15, Add(RPath)));
        if (RunPath is not null) dyn.Add((29, Add(RunPath)));
        int strtabOffset = cursor;
        byte[] strings = strtab.ToArray();
        cursor += strings.Length;
        cursor = (cursor + 7) & ~7;
        int dynamicOffset = cursor;
        dyn.Add((5, LoadAddress + (ulong)strtabOffset)); // DT_STRTAB
        dyn.Add((10, (ulong)strings.Length));             // DT_STRSZ
        dyn.Add((0, 0));                                  // DT_NULL
        if (hasDynamic)
            cursor += dyn.Count * DynamicEntrySize;
        int fileSize = cursor;

        byte[] image = new byte[fileSize];
        Span<byte> s = image;
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; // ELFCLASS64
        s[5] = 1; // ELFDATA2LSB
        s[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], Machine);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], (ulong)phoff);
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], ProgramHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)phnum);

        int ph = phoff;
        WritePhdr(s[ph..], type: 1, offset: 0, vaddr: LoadAddress, filesz: (ulong)fileSize);
        ph += ProgramHeaderSize;
        if (Interpreter is not null)
        {
            WritePhdr(s[ph..], type: 3, offset: (ulong)interpOffset, vaddr: LoadAddress + (ulong)interpOffset, filesz: (ulong)interp.Length);
            interp.CopyTo(s[interpOffset..]);
            ph += ProgramHeaderSize;
        }
        strings.CopyTo(s[strtabOffset..]);
        if (hasDynamic)
        {
            WritePhdr(s[ph..], type: 2, offset: (ulong)dynamicOffset, vaddr: LoadAddress + (ulong)dynamicOffset,
                filesz: (ulong)(dyn.Count * DynamicEntrySize));
            for (int i = 0; i < dyn.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(s[(dynamicOffset + i * DynamicEntrySize)..], dyn[i].Tag);
                BinaryPrimitives.WriteUInt64LittleEndian(s[(dynamicOffset + i * DynamicEntrySize + 8)..], dyn[i].Value);
            }
        }
        return new Layout(image, phoff, strtabOffset, dynamicOffset, hasDynamic ? dyn.Count : 0);
    }

    public void WriteTo(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Build());
    }

    private static void WritePhdr(Span<byte> s, uint type, ulong offset, ulong vaddr, ulong filesz)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, type);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 4); // PF_R
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], vaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], vaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], filesz);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], filesz);
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], 0x1000);
    }
}
