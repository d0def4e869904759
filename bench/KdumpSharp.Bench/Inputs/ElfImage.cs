using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Bench.Inputs;

/// <summary>
/// Just enough of an ELF64 little-endian executable (a vmlinux) to match it to a dump by its GNU
/// build ID and to tell whether a decompressed image is whole.
/// </summary>
internal static class ElfImage
{
    private const int HeaderBytes = 64;           // sizeof(Elf64_Ehdr)
    private const int ProgramHeaderBytes = 56;    // sizeof(Elf64_Phdr)
    private const uint PT_NOTE = 4;
    private const uint NT_GNU_BUILD_ID = 3;
    private const int NoteHeaderBytes = 12;       // n_namesz, n_descsz, n_type
    private const int MaxNoteSegmentBytes = 1 << 20;

    public static bool HasElfMagic(ReadOnlySpan<byte> head) =>
        head.Length >= 4 && head[0] == 0x7f && head[1] == (byte)'E' && head[2] == (byte)'L' && head[3] == (byte)'F';

    /// <summary>
    /// Whether the file holds everything its header points at: the program headers, the section
    /// headers (e_shoff + e_shnum × e_shentsize) and every segment's file bytes.
    /// </summary>
    public static bool IsComplete(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> h = stackalloc byte[HeaderBytes];
        if (file.Length < HeaderBytes || file.Read(h) != HeaderBytes || !IsElf64Le(h))
            return false;
        long end = Math.Max(
            (long)BinaryPrimitives.ReadUInt64LittleEndian(h[0x20..]) + BinaryPrimitives.ReadUInt16LittleEndian(h[0x36..]) * (long)BinaryPrimitives.ReadUInt16LittleEndian(h[0x38..]),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(h[0x28..]) + BinaryPrimitives.ReadUInt16LittleEndian(h[0x3a..]) * (long)BinaryPrimitives.ReadUInt16LittleEndian(h[0x3c..]));
        foreach ((uint _, long offset, long size) in ProgramHeaders(file, h))
            end = Math.Max(end, offset + size);
        return end <= file.Length;
    }

    /// <summary>The NT_GNU_BUILD_ID note of the first PT_NOTE segment that has one, in hex, or null.</summary>
    public static string? BuildId(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> h = stackalloc byte[HeaderBytes];
        if (file.Length < HeaderBytes || file.Read(h) != HeaderBytes || !IsElf64Le(h))
            return null;
        foreach ((uint type, long offset, long size) in ProgramHeaders(file, h))
        {
            if (type != PT_NOTE || size <= 0 || size > MaxNoteSegmentBytes || offset + size > file.Length)
                continue;
            byte[] notes = new byte[size];
            file.Position = offset;
            file.ReadExactly(notes);
            if (FindBuildId(notes) is string id)
                return id;
        }
        return null;
    }

    private static string? FindBuildId(ReadOnlySpan<byte> notes)
    {
        int at = 0;
        while (at + NoteHeaderBytes <= notes.Length)
        {
            uint nameSize = BinaryPrimitives.ReadUInt32LittleEndian(notes[at..]);
            uint descSize = BinaryPrimitives.ReadUInt32LittleEndian(notes[(at + 4)..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes[(at + 8)..]);
            long name = at + NoteHeaderBytes;
            long desc = name + Align4(nameSize);
            long next = desc + Align4(descSize);
            if (next > notes.Length)
                return null;
            if (type == NT_GNU_BUILD_ID && nameSize == 4 && Encoding.ASCII.GetString(notes.Slice((int)name, 3)) == "GNU")
                return Convert.ToHexStringLower(notes.Slice((int)desc, (int)descSize));
            at = (int)next;
        }
        return null;
    }

    private static List<(uint Type, long Offset, long Size)> ProgramHeaders(FileStream file, ReadOnlySpan<byte> header)
    {
        long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(header[0x36..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(header[0x38..]);
        var result = new List<(uint, long, long)>();
        if (phentsize < ProgramHeaderBytes || phoff < 0 || phoff + (long)phentsize * phnum > file.Length)
            return result;
        byte[] table = new byte[phentsize * phnum];
        file.Position = phoff;
        file.ReadExactly(table);
        for (int i = 0; i < phnum; i++)
        {
            ReadOnlySpan<byte> ph = table.AsSpan(i * phentsize, ProgramHeaderBytes);
            result.Add((BinaryPrimitives.ReadUInt32LittleEndian(ph), (long)BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(ph[0x20..])));
        }
        return result;
    }

    private static bool IsElf64Le(ReadOnlySpan<byte> h) => HasElfMagic(h) && h[4] == 2 /* ELFCLASS64 */ && h[5] == 1 /* ELFDATA2LSB */;

    private static long Align4(uint n) => (n + 3L) & ~3L;
}
