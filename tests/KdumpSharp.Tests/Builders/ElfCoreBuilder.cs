using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds ELF64 x86_64 core files field by field (independently of the product's writer) so the
/// reader is checked against the layout in include/uapi/linux/elf.h, not against itself.
/// </summary>
internal sealed class ElfCoreBuilder
{
    private readonly List<(string Name, uint Type, byte[] Desc)> _notes = new();
    private readonly List<Segment> _segments = new();

    public ushort Type { get; set; } = 4;
    public ushort Machine { get; set; } = 62;
    public uint Flags { get; set; }

    public sealed record Segment(ulong PhysicalAddress, ulong VirtualAddress, byte[] Data, ulong MemorySize);

    public ElfCoreBuilder AddNote(string name, uint type, byte[] descriptor)
    {
        _notes.Add((name, type, descriptor));
        return this;
    }

    public ElfCoreBuilder AddVmcoreinfo(string text) => AddNote("VMCOREINFO", 0, Encoding.ASCII.GetBytes(text));

    /// <summary>An NT_PRSTATUS for a CPU: pr_pid at +32, pr_reg (27 u64, user_regs_struct order) at +112; 336 bytes.</summary>
    public ElfCoreBuilder AddPrStatus(int pid, ulong rip, ulong rsp)
    {
        byte[] d = new byte[336];
        BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(32), pid);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(112 + 16 * 8), rip);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(112 + 19 * 8), rsp);
        return AddNote("CORE", 1, d);
    }

    public ElfCoreBuilder AddLoad(ulong physicalAddress, byte[] data, ulong? memorySize = null, ulong virtualAddress = 0)
    {
        _segments.Add(new Segment(physicalAddress, virtualAddress, data, memorySize ?? (ulong)data.Length));
        return this;
    }

    public byte[] Build()
    {
        byte[] notes = BuildNotes();
        int phnum = 1 + _segments.Count;
        int notesOffset = 64 + phnum * 56;
        long dataOffset = (notesOffset + notes.Length + 4095) / 4096 * 4096;
        long size = dataOffset + _segments.Sum(s => (long)s.Data.Length);
        byte[] file = new byte[size];
        Span<byte> f = file;
        "\u007fELF"u8.CopyTo(f);
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // ELFDATA2LSB
        f[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], Machine);
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(f[32..], 64);            // e_phoff
        BinaryPrimitives.WriteUInt32LittleEndian(f[48..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(f[52..], 64);            // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(f[54..], 56);            // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(f[56..], (ushort)phnum);
        WritePhdr(f[64..], 4, (ulong)notesOffset, 0, 0, (ulong)notes.Length, (ulong)notes.Length);
        notes.CopyTo(f[notesOffset..]);
        long at = dataOffset;
        for (int i = 0; i < _segments.Count; i++)
        {
            Segment s = _segments[i];
            WritePhdr(f[(64 + (i + 1) * 56)..], 1, (ulong)at, s.VirtualAddress, s.PhysicalAddress, (ulong)s.Data.Length, s.MemorySize);
            s.Data.CopyTo(f[(int)at..]);
            at += s.Data.Length;
        }
        return file;
    }

    /// <summary>Offset in the built file of program header <paramref name="index"/> (0 is the PT_NOTE).</summary>
    public static int ProgramHeaderOffset(int index) => 64 + index * 56;

    private static void WritePhdr(Span<byte> b, uint type, ulong offset, ulong vaddr, ulong paddr, ulong filesz, ulong memsz)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, type);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], type == 1 ? 7u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], vaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], paddr);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], filesz);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], memsz);
    }

    private byte[] BuildNotes()
    {
        var ms = new MemoryStream();
        byte[] h = new byte[12];
        foreach (var (name, type, desc) in _notes)
        {
            byte[] nameBytes = Encoding.ASCII.GetBytes(name + "\0");
            BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)nameBytes.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), (uint)desc.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), type);
            ms.Write(h);
            ms.Write(nameBytes);
            ms.Write(new byte[(4 - nameBytes.Length % 4) % 4]);
            ms.Write(desc);
            ms.Write(new byte[(4 - desc.Length % 4) % 4]);
        }
        return ms.ToArray();
    }
}
