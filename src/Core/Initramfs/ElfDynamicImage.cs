using KdumpSharp.Elf;
using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace KdumpSharp.Initramfs;

/// <summary>
/// What the dynamic loader reads from one ELF file before mapping it: the PT_INTERP path and,
/// from PT_DYNAMIC, DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH (glibc elf/dl-load.c,
/// elf/rtld.c). Only ELF64 little-endian is read; everything else is an
/// <see cref="ExecutableFormatException"/> naming the file and offset.
/// </summary>
internal sealed class ElfDynamicImage
{
    /// <summary>e_ident[EI_CLASS], e_ident[EI_DATA] and e_machine end here.</summary>
    private const int IdentityLength = Elf64Header.MachineOffset + 2;

    /// <summary>PT_INTERP holds a path; the kernel's binfmt_elf refuses one longer than PATH_MAX.</summary>
    private const int MaxInterpreterBytes = 4096;

    private ElfDynamicImage(string path, ushort machine, string? interpreter, IReadOnlyList<string> needed,
        string? soName, string? rPath, string? runPath)
    {
        Path = path;
        Machine = machine;
        Interpreter = interpreter;
        Needed = needed;
        SoName = soName;
        RPath = rPath;
        RunPath = runPath;
    }

    /// <summary>The host file read.</summary>
    public string Path { get; }

    /// <summary>e_machine.</summary>
    public ushort Machine { get; }

    /// <summary>PT_INTERP, or null for a static executable or a library.</summary>
    public string? Interpreter { get; }

    /// <summary>DT_NEEDED names in file order.</summary>
    public IReadOnlyList<string> Needed { get; }

    /// <summary>DT_SONAME, if any.</summary>
    public string? SoName { get; }

    /// <summary>DT_RPATH, colon-separated, if any.</summary>
    public string? RPath { get; }

    /// <summary>DT_RUNPATH, colon-separated, if any. Its presence disables DT_RPATH lookups.</summary>
    public string? RunPath { get; }

    /// <summary>
    /// Reads e_ident and e_machine only: whether <paramref name="path"/> is an ELF64 little-endian
    /// object for <paramref name="machine"/>. The loader skips other files found on its search
    /// path ("skipping incompatible"), so the resolver does too.
    /// </summary>
    public static bool IsCompatible(string path, ushort machine)
    {
        using SafeFileHandle handle = File.OpenHandle(path);
        Span<byte> identity = stackalloc byte[IdentityLength];
        int read = RandomAccess.Read(handle, identity, 0);
        return read == IdentityLength
            && identity[..4].SequenceEqual(Elf64Header.Magic)
            && identity[Elf64Header.ClassOffset] == Elf64Header.ClassElf64
            && identity[Elf64Header.DataOffset] == Elf64Header.DataLittleEndian
            && BinaryPrimitives.ReadUInt16LittleEndian(identity[Elf64Header.MachineOffset..]) == machine;
    }

    public static ElfDynamicImage Read(string path, InitramfsLimits limits)
    {
        using SafeFileHandle handle = File.OpenHandle(path);
        long length = RandomAccess.GetLength(handle);
        var reader = new Reader(path, handle, length);

        Span<byte> headerBytes = stackalloc byte[Elf64Header.Size];
        int got = RandomAccess.Read(handle, headerBytes, 0);
        if (got < 4 || !headerBytes[..4].SequenceEqual(Elf64Header.Magic))
            throw new ExecutableFormatException(path, "not an ELF file (no \\x7fELF magic)", 0);
        if (got < Elf64Header.Size)
            throw new ExecutableFormatException(path, $"truncated ELF header: the file has {length} bytes, the header needs {Elf64Header.Size}", 0);
        var header = new Elf64Header(headerBytes);
        if (header.Class != Elf64Header.ClassElf64)
            throw new ExecutableFormatException(path, $"ELF class {header.Class} is not ELFCLASS64; only 64-bit objects are read", Elf64Header.ClassOffset);
        if (header.Data != Elf64Header.DataLittleEndian)
            throw new ExecutableFormatException(path, $"ELF data encoding {header.Data} is not little-endian", Elf64Header.DataOffset);
        if (header.Type is not (Elf64Header.TypeExecutable or Elf64Header.TypeShared))
            throw new ExecutableFormatException(path, $"e_type {header.Type} is neither ET_EXEC nor ET_DYN, so the loader would not run it", Elf64Header.TypeOffset);

        Elf64ProgramHeader[] segments = ReadProgramHeaders(reader, header, limits);

        string? interpreter = null;
        Elf64ProgramHeader? dynamic = null;
        foreach (Elf64ProgramHeader segment in segments)
        {
            // Like binfmt_elf and rtld, the first PT_INTERP and PT_DYNAMIC count.
            if (segment.Type == Elf64ProgramHeader.TypeInterp && interpreter is null)
                interpreter = ReadInterpreter(reader, segment);
            else if (segment.Type == Elf64ProgramHeader.TypeDynamic && dynamic is null)
                dynamic = segment;
        }

        if (dynamic is not Elf64ProgramHeader dyn)
            return new ElfDynamicImage(path, header.Machine, interpreter, [], null, null, null);
        return ReadDynamic(reader, header.Machine, interpreter, dyn, segments, limits);
    }

    private static Elf64ProgramHeader[] ReadProgramHeaders(Reader reader, Elf64Header header, InitramfsLimits limits)
    {
        if (header.ProgramHeaderCount == 0)
            return [];
        if (header.ProgramHeaderEntrySize != Elf64ProgramHeader.Size)
            throw new ExecutableFormatException(reader.Path, $"e_phentsize is {header.ProgramHeaderEntrySize}, Elf64_Phdr is {Elf64ProgramHeader.Size} bytes", Elf64Header.PhEntSizeOffset);
        // 0xffff is PN_XNUM (the real count is in section header 0); no executable needs that many.
        if (header.ProgramHeaderCount > limits.MaxProgramHeaders)
            throw new ExecutableFormatException(reader.Path, $"{header.ProgramHeaderCount} program headers exceed the limit of {limits.MaxProgramHeaders}", Elf64Header.PhNumOffset);
        int tableSize = header.ProgramHeaderCount * Elf64ProgramHeader.Size;
        byte[] table = reader.ReadExactly(header.ProgramHeaderOffset, tableSize, "program header table");
        var segments = new Elf64ProgramHeader[header.ProgramHeaderCount];
        for (int i = 0; i < segments.Length; i++)
            segments[i] = new Elf64ProgramHeader(table.AsSpan(i * Elf64ProgramHeader.Size, Elf64ProgramHeader.Size));
        return segments;
    }

    private static string ReadInterpreter(Reader reader, Elf64ProgramHeader segment)
    {
        if (segment.FileSize is 0 or > MaxInterpreterBytes)
            throw new ExecutableFormatException(reader.Path, $"PT_INTERP is {segment.FileSize} bytes; a path of 1 to {MaxInterpreterBytes} bytes was expected", (long)segment.FileOffset);
        byte[] bytes = reader.ReadExactly(segment.FileOffset, (int)segment.FileSize, "PT_INTERP");
        int nul = Array.IndexOf(bytes, (byte)0);
        if (nul <= 0)
            throw new ExecutableFormatException(reader.Path, nul == 0 ? "PT_INTERP is an empty string" : "PT_INTERP is not NUL-terminated", (long)segment.FileOffset);
        return Encoding.UTF8.GetString(bytes, 0, nul);
    }

    private static ElfDynamicImage ReadDynamic(Reader reader, ushort machine, string? interpreter,
        Elf64ProgramHeader dynamic, Elf64ProgramHeader[] segments, InitramfsLimits limits)
    {
        ulong count = dynamic.FileSize / Elf64DynamicEntry.Size;
        if (count > (ulong)limits.MaxDynamicEntries)
            throw new ExecutableFormatException(reader.Path, $"PT_DYNAMIC holds {count} entries, more than the limit of {limits.MaxDynamicEntries}", (long)dynamic.FileOffset);
        byte[] table = reader.ReadExactly(dynamic.FileOffset, (int)count * Elf64DynamicEntry.Size, "PT_DYNAMIC");

        var neededOffsets = new List<ulong>();
        ulong? strTab = null, strSz = null, soName = null, rPath = null, runPath = null;
        for (int i = 0; i < (int)count; i++)
        {
            var entry = new Elf64DynamicEntry(table.AsSpan(i * Elf64DynamicEntry.Size, Elf64DynamicEntry.Size));
            if (entry.Tag == Elf64DynamicEntry.TagNull)
                break;
            switch (entry.Tag)
            {
                case Elf64DynamicEntry.TagNeeded: neededOffsets.Add(entry.Value); break;
                case Elf64DynamicEntry.TagStrTab: strTab = entry.Value; break;
                case Elf64DynamicEntry.TagStrSz: strSz = entry.Value; break;
                case Elf64DynamicEntry.TagSoName: soName = entry.Value; break;
                case Elf64DynamicEntry.TagRPath: rPath = entry.Value; break;
                case Elf64DynamicEntry.TagRunPath: runPath = entry.Value; break;
            }
        }

        bool usesStrings = neededOffsets.Count > 0 || soName.HasValue || rPath.HasValue || runPath.HasValue;
        if (!usesStrings)
            return new ElfDynamicImage(reader.Path, machine, interpreter, [], null, null, null);
        if (strTab is not ulong strTabAddress || strSz is not ulong strTabSize)
            throw new ExecutableFormatException(reader.Path, "PT_DYNAMIC names libraries or paths but lacks DT_STRTAB or DT_STRSZ", (long)dynamic.FileOffset);
        if (strTabSize > (ulong)limits.MaxStringTableBytes)
            throw new ExecutableFormatException(reader.Path, $"DT_STRSZ {strTabSize} exceeds the limit of {limits.MaxStringTableBytes} bytes", (long)dynamic.FileOffset);

        // DT_STRTAB is a virtual address; the PT_LOAD whose file bytes hold it gives the file offset.
        Elf64ProgramHeader? holder = null;
        foreach (Elf64ProgramHeader segment in segments)
        {
            if (segment.Type == Elf64ProgramHeader.TypeLoad && segment.ContainsInFile(strTabAddress))
            {
                holder = segment;
                break;
            }
        }
        if (holder is not Elf64ProgramHeader load)
            throw new ExecutableFormatException(reader.Path, $"DT_STRTAB 0x{strTabAddress:x} is in no PT_LOAD segment's file bytes", (long)dynamic.FileOffset);
        ulong inSegment = strTabAddress - load.VirtualAddress;
        if (strTabSize > load.FileSize - inSegment)
            throw new ExecutableFormatException(reader.Path, $"the {strTabSize}-byte string table at 0x{strTabAddress:x} runs past its PT_LOAD segment", (long)(load.FileOffset + inSegment));
        ulong strTabOffset = load.FileOffset + inSegment;
        byte[] strings = reader.ReadExactly(strTabOffset, (int)strTabSize, "DT_STRTAB");

        var needed = new List<string>(neededOffsets.Count);
        foreach (ulong offset in neededOffsets)
            needed.Add(ReadString(reader.Path, strings, strTabOffset, offset, "DT_NEEDED"));
        return new ElfDynamicImage(reader.Path, machine, interpreter, needed,
            soName is ulong s ? ReadString(reader.Path, strings, strTabOffset, s, "DT_SONAME") : null,
            rPath is ulong r ? ReadString(reader.Path, strings, strTabOffset, r, "DT_RPATH") : null,
            runPath is ulong u ? ReadString(reader.Path, strings, strTabOffset, u, "DT_RUNPATH") : null);
    }

    private static string ReadString(string path, byte[] strings, ulong tableOffset, ulong offset, string tag)
    {
        if (offset >= (ulong)strings.Length)
            throw new ExecutableFormatException(path, $"{tag} string offset {offset} is outside the {strings.Length}-byte string table", (long)tableOffset);
        int start = (int)offset;
        int nul = Array.IndexOf(strings, (byte)0, start);
        if (nul < 0)
            throw new ExecutableFormatException(path, $"{tag} string at table offset {offset} is not NUL-terminated", (long)(tableOffset + offset));
        if (nul == start)
            throw new ExecutableFormatException(path, $"{tag} is an empty string", (long)(tableOffset + offset));
        return Encoding.UTF8.GetString(strings, start, nul - start);
    }

    /// <summary>Bounded reads from one file; a read past the end names what was being read.</summary>
    private readonly struct Reader(string path, SafeFileHandle handle, long length)
    {
        public string Path { get; } = path;

        public byte[] ReadExactly(ulong offset, int size, string what)
        {
            if (offset > (ulong)length || (ulong)size > (ulong)length - offset)
                throw new ExecutableFormatException(Path, $"{what} ({size} bytes at 0x{offset:x}) extends past the end of the {length}-byte file", (long)Math.Min(offset, long.MaxValue));
            byte[] buffer = new byte[size];
            int done = 0;
            while (done < size)
            {
                int read = RandomAccess.Read(handle, buffer.AsSpan(done), (long)offset + done);
                if (read == 0)
                    throw new ExecutableFormatException(Path, $"{what}: the file shrank while being read", (long)offset + done);
                done += read;
            }
            return buffer;
        }
    }
}
