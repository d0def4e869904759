using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Bench.Inputs;

/// <summary>
/// A sparse ELF vmcore of a machine with hundreds of GiB of RAM that costs almost no disk: PT_LOADs of
/// <see cref="SegmentGiB"/> each, whose bytes are holes (zero pages) except 1 MiB of text at the start
/// of every GiB, so the capture stores something everywhere. Its VMCOREINFO names a kernel release
/// and nothing else: enough for a level-1 capture (zero pages only), which needs no mem_map; the
/// capture logs that it finds no kernel log.
/// </summary>
internal static class SparseVmcore
{
    public const int SegmentGiB = 64;
    private const long GiB = 1L << 30;
    private const int DataOffset = 1 << 20; // headers and notes fit below; PT_LOAD offsets stay page-aligned

    /// <summary>Writes the file unless one of that size is there already; returns its RAM in bytes.</summary>
    public static long Ensure(string path, int gib)
    {
        long ram = gib * GiB;
        int segments = (gib + SegmentGiB - 1) / SegmentGiB;
        if (File.Exists(path) && new FileInfo(path).Length == DataOffset + ram)
            return ram;
        byte[] notes = Note("VMCOREINFO", 0, Encoding.ASCII.GetBytes("OSRELEASE=6.1.0-sparse-bench\nPAGESIZE=4096\n"));
        byte[] header = new byte[64 + (1 + segments) * 56 + notes.Length];
        Span<byte> h = header;
        "\u007fELF"u8.CopyTo(h);
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // ELFDATA2LSB
        h[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 4);   // ET_CORE
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 62);  // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64);  // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);  // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);  // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], (ushort)(1 + segments));
        int notesOffset = 64 + (1 + segments) * 56;
        Phdr(h[64..], 4, (ulong)notesOffset, 0, (ulong)notes.Length);
        for (int i = 0; i < segments; i++)
        {
            long size = Math.Min(SegmentGiB * GiB, ram - i * SegmentGiB * GiB);
            // Physical addresses from 4 GiB, as a big machine's RAM above the PCI hole.
            Phdr(h[(64 + (i + 1) * 56)..], 1, (ulong)(DataOffset + i * SegmentGiB * GiB), (ulong)(4 * GiB + i * SegmentGiB * GiB), (ulong)size);
        }
        notes.CopyTo(h[notesOffset..]);

        string partial = path + ".partial";
        using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write))
        {
            file.Write(header);
            file.SetLength(DataOffset + ram);
            byte[] text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 1 << 15).Select(i => $"line {i,8} of a page that is not zero\n")))[..(1 << 20)];
            for (long g = 0; g < gib; g++)
            {
                file.Position = DataOffset + g * GiB;
                file.Write(text);
            }
        }
        File.Move(partial, path, overwrite: true);
        return ram;
    }

    private static void Phdr(Span<byte> b, uint type, ulong offset, ulong paddr, ulong size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, type);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], type == 1 ? 7u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], type == 1 ? 0xffff888000000000 + paddr : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], paddr);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], size);
    }

    private static byte[] Note(string name, uint type, byte[] desc)
    {
        byte[] nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        int namePadded = (nameBytes.Length + 3) & ~3, descPadded = (desc.Length + 3) & ~3;
        byte[] note = new byte[12 + namePadded + descPadded];
        BinaryPrimitives.WriteUInt32LittleEndian(note, (uint)nameBytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(4), (uint)desc.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(8), type);
        nameBytes.CopyTo(note, 12);
        desc.CopyTo(note, 12 + namePadded);
        return note;
    }
}
