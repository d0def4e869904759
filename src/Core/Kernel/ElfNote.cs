using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Dumps;

namespace KdumpSharp.Kernel;

/// <summary>
/// One ELF note: <c>Elf64_Nhdr {u32 n_namesz, n_descsz, n_type}</c>, then the name and the
/// descriptor, each padded to 4 bytes (include/uapi/linux/elf.h; kernel/vmcore_info.c append_elf_note).
/// </summary>
public sealed class ElfNote(string name, uint type, ReadOnlyMemory<byte> descriptor)
{
    public const uint NtPrStatus = 1;
    public const uint NtVmcoreinfo = 0;
    public const uint NtVmcoreDeviceDump = 0x700;
    private const int HeaderSize = 12;

    public string Name { get; } = name;
    public uint Type { get; } = type;
    public ReadOnlyMemory<byte> Descriptor { get; } = descriptor;

    public bool IsPrStatus => Type == NtPrStatus && Name == "CORE";
    public bool IsVmcoreinfo => Type == NtVmcoreinfo && Name == "VMCOREINFO";

    /// <summary>
    /// Parses a notes blob. A note header with n_namesz == 0 ends the list, as in the kernel's
    /// fs/proc/vmcore.c (the per-CPU buffers are zero-padded); so does running out of bytes.
    /// A note that claims more bytes than remain is an error naming its offset.
    /// </summary>
    public static List<ElfNote> ParseAll(ReadOnlySpan<byte> blob, string source, long blobOffset, DumpLimits limits)
    {
        var notes = new List<ElfNote>();
        int at = 0;
        while (blob.Length - at >= HeaderSize)
        {
            uint nameSize = BinaryPrimitives.ReadUInt32LittleEndian(blob[at..]);
            uint descSize = BinaryPrimitives.ReadUInt32LittleEndian(blob[(at + 4)..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(blob[(at + 8)..]);
            if (nameSize == 0)
                break;
            ulong namePadded = Align4(nameSize);
            ulong descPadded = Align4(descSize);
            ulong remaining = (ulong)(blob.Length - at - HeaderSize);
            if (namePadded + descPadded > remaining && namePadded + descSize > remaining)
                throw new DumpFormatException(source, $"ELF note claims {nameSize}+{descSize} bytes of name and descriptor but only {remaining} remain", blobOffset + at);
            if (notes.Count >= limits.MaxNotes)
                throw new DumpFormatException(source, $"more than {limits.MaxNotes} ELF notes", blobOffset + at);
            ReadOnlySpan<byte> nameBytes = blob.Slice(at + HeaderSize, (int)nameSize);
            int nul = nameBytes.IndexOf((byte)0);
            string name = Encoding.ASCII.GetString(nul >= 0 ? nameBytes[..nul] : nameBytes);
            int descStart = at + HeaderSize + (int)namePadded;
            byte[] desc = blob.Slice(descStart, (int)descSize).ToArray();
            notes.Add(new ElfNote(name, type, desc));
            at = (int)Math.Min((ulong)blob.Length, (ulong)descStart + descPadded);
        }
        return notes;
    }

    /// <summary>Writes a note in the kernel's layout (used by the ELF and kdump writers).</summary>
    public static void Write(Stream output, string name, uint type, ReadOnlySpan<byte> descriptor)
    {
        byte[] nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        Span<byte> header = stackalloc byte[HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)nameBytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)descriptor.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], type);
        output.Write(header);
        output.Write(nameBytes);
        output.Write(new byte[Align4((uint)nameBytes.Length) - (ulong)nameBytes.Length]);
        output.Write(descriptor);
        output.Write(new byte[Align4((uint)descriptor.Length) - (ulong)descriptor.Length]);
    }

    public static int SizeOf(string name, int descriptorLength) =>
        HeaderSize + (int)Align4((uint)name.Length + 1) + (int)Align4((uint)descriptorLength);

    private static ulong Align4(uint n) => ((ulong)n + 3) & ~3UL;
}
