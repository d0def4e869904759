using KdumpSharp.Elf;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Elf;

/// <summary>
/// Reads an ELF64 vmcore: a copy of /proc/vmcore (fs/proc/vmcore.c rewrites the first kernel's
/// header into one PT_NOTE and page-aligned PT_LOADs), makedumpfile -E output, or our own
/// converted output. Only the headers are read when it opens; memory is read on demand from the
/// (memory-mapped) source.
/// </summary>
public sealed class ElfVmcoreReader : IDumpReader
{
    /// <summary>Kernel-image virtual addresses start here (__START_KERNEL_map, arch/x86/include/asm/page_64_types.h).</summary>
    private const ulong StartKernelMap = 0xffffffff80000000;

    private readonly DumpSource _source;
    private readonly bool _leaveOpen;
    private readonly ElfPhysicalMemory _memory;
    private Vmcoreinfo? _vmcoreinfo;
    private bool _vmcoreinfoParsed;

    public ElfVmcoreReader(DumpSource source, DumpLimits? limits = null, bool leaveOpen = false)
    {
        limits ??= DumpLimits.Default;
        _source = source;
        _leaveOpen = leaveOpen;
        Span<byte> ehdrBytes = stackalloc byte[Elf64Header.Size];
        source.ReadExactly(0, ehdrBytes, "the ELF header");
        var ehdr = new Elf64Header(ehdrBytes);
        Validate(ehdr);

        int count = ProgramHeaderCount(ehdr, limits);
        if (ehdr.ProgramHeaderEntrySize != Elf64ProgramHeader.Size)
            throw Corrupt($"ELF program header size is {ehdr.ProgramHeaderEntrySize}, expected {Elf64ProgramHeader.Size}", Elf64Header.PhEntSizeOffset);
        if (ehdr.ProgramHeaderOffset > (ulong)source.Length)
            throw Corrupt($"program headers start at 0x{ehdr.ProgramHeaderOffset:x}, past the end of the file", Elf64Header.PhOffOffset);

        byte[] table = new byte[count * Elf64ProgramHeader.Size];
        source.ReadExactly((long)ehdr.ProgramHeaderOffset, table, $"{count} ELF program headers");

        var notes = new List<ElfNote>();
        var segments = new List<LoadSegment>(count);
        long notesBytes = 0;
        bool truncated = false;
        for (int i = 0; i < count; i++)
        {
            var ph = new Elf64ProgramHeader(table.AsSpan(i * Elf64ProgramHeader.Size, Elf64ProgramHeader.Size));
            long phOffset = (long)ehdr.ProgramHeaderOffset + i * Elf64ProgramHeader.Size;
            if (ph.Type == Elf64ProgramHeader.TypeNote)
            {
                notesBytes += (long)Math.Min(ph.FileSize, int.MaxValue);
                if (ph.FileSize > (ulong)limits.MaxNotesBytes || notesBytes > limits.MaxNotesBytes)
                    throw Corrupt($"ELF notes total more than {limits.MaxNotesBytes} bytes", phOffset);
                if (ph.FileOffset > (ulong)source.Length || ph.FileSize > (ulong)source.Length - ph.FileOffset)
                    throw Corrupt($"PT_NOTE {i} lies past the end of the file", phOffset);
                byte[] blob = new byte[ph.FileSize];
                source.ReadExactly((long)ph.FileOffset, blob, "ELF notes");
                notes.AddRange(ElfNote.ParseAll(blob, source.Name, (long)ph.FileOffset, limits));
                if (notes.Count > limits.MaxNotes)
                    throw Corrupt($"more than {limits.MaxNotes} ELF notes", phOffset);
            }
            else if (ph.Type == Elf64ProgramHeader.TypeLoad)
            {
                if (ph.FileSize > ph.MemorySize)
                    throw Corrupt($"PT_LOAD {i} has p_filesz 0x{ph.FileSize:x} larger than p_memsz 0x{ph.MemorySize:x}", phOffset);
                if (ph.PhysicalAddress > ulong.MaxValue - ph.MemorySize
                    || (ph.PhysicalAddress + ph.MemorySize) >> PageFrameNumber.PageShift > limits.MaxPageFrames)
                    throw Corrupt($"PT_LOAD {i} describes physical memory beyond the {limits.MaxPageFrames}-page limit", phOffset);
                if (ph.FileSize > 0 && ph.FileOffset > long.MaxValue - ph.FileSize)
                    throw Corrupt($"PT_LOAD {i} has an impossible file offset 0x{ph.FileOffset:x}", phOffset);
                if (ph.MemorySize == 0)
                    continue;
                if (ph.FileSize > 0 && ph.FileOffset + ph.FileSize > (ulong)source.Length)
                    truncated = true;
                segments.Add(new LoadSegment(PhysicalRange.FromLength(ph.PhysicalAddress, ph.MemorySize), ph.VirtualAddress, (long)ph.FileOffset, ph.FileSize));
            }
        }

        Notes = notes;
        Segments = SelectPhysicalSegments(segments);
        _memory = new ElfPhysicalMemory(source, Segments);
        // makedumpfile -F -E wraps an ELF vmcore in a flattened stream; a cut stream is incomplete too.
        var flattened = source as FlattenedSource;
        string? reason = flattened?.IncompleteReason
            ?? (truncated ? "the file is shorter than its program headers say"
                : (ehdr.Flags & Elf64Header.FlagIncomplete) != 0 ? "the writer flagged the dump incomplete (ELF e_flags bit 0)" : null);
        Properties = new DumpProperties
        {
            Format = flattened is null ? DumpFormat.Elf : DumpFormat.Flattened,
            InnerFormat = flattened is null ? null : DumpFormat.Elf,
            IsIncomplete = reason is not null,
            IncompleteReason = reason,
        };
    }

    public string Name => _source.Name;
    public DumpProperties Properties { get; }
    public IReadOnlyList<ElfNote> Notes { get; }
    public PhysicalMemory Memory => _memory;

    /// <summary>The PT_LOADs used for physical memory, sorted by physical address, without the duplicate kernel-text segment.</summary>
    public IReadOnlyList<LoadSegment> Segments { get; }

    public Vmcoreinfo? Vmcoreinfo
    {
        get
        {
            if (!_vmcoreinfoParsed)
            {
                ElfNote? note = Notes.FirstOrDefault(n => n.IsVmcoreinfo);
                _vmcoreinfo = note is null ? null : Vmcoreinfo.Parse(note.Descriptor.Span);
                _vmcoreinfoParsed = true;
            }
            return _vmcoreinfo;
        }
    }

    public void Dispose()
    {
        if (!_leaveOpen)
            _source.Dispose();
    }

    private void Validate(Elf64Header ehdr)
    {
        if (ehdr.Class != Elf64Header.ClassElf64)
            throw new UnrecognizedDumpException(_source.Name, "is a 32-bit ELF file; only x86_64 (ELF64) vmcores are supported");
        if (ehdr.Data != Elf64Header.DataLittleEndian)
            throw new UnrecognizedDumpException(_source.Name, "is a big-endian ELF file; only x86_64 vmcores are supported");
        if (ehdr.Type != Elf64Header.TypeCore)
            throw new UnrecognizedDumpException(_source.Name, ehdr.Type switch
            {
                2 => "is an ELF executable (a vmlinux?), not a core dump",
                3 => "is an ELF shared object, not a core dump",
                1 => "is an ELF relocatable object (a kernel module?), not a core dump",
                _ => $"is an ELF file of type {ehdr.Type}, not a core dump",
            });
        if (ehdr.Machine != Elf64Header.MachineX86_64)
            throw new UnrecognizedDumpException(_source.Name, $"is an ELF core for machine {ehdr.Machine}; only x86_64 (62) is supported");
    }

    /// <summary>
    /// e_phnum, or, when it is PN_XNUM (more than 65534 segments, which makedumpfile -E can produce),
    /// sh_info of section header 0 (Elf64_Shdr.sh_info).
    /// </summary>
    private int ProgramHeaderCount(Elf64Header ehdr, DumpLimits limits)
    {
        ulong count = ehdr.ProgramHeaderCount;
        if (count == Elf64Header.ExtendedNumbering)
        {
            Span<byte> shInfo = stackalloc byte[4];
            if (ehdr.SectionHeaderOffset > long.MaxValue - Elf64Header.SectionInfoOffset)
                throw Corrupt("extended program header count points at an impossible section header", Elf64Header.ShOffOffset);
            _source.ReadExactly((long)ehdr.SectionHeaderOffset + Elf64Header.SectionInfoOffset, shInfo, "section header 0 (extended program header count)");
            count = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(shInfo);
        }
        if (count > (ulong)limits.MaxProgramHeaders)
            throw Corrupt($"{count} program headers exceed the limit of {limits.MaxProgramHeaders}", Elf64Header.PhNumOffset);
        return (int)count;
    }

    /// <summary>
    /// Sorts PT_LOADs by physical address and keeps a disjoint set. The kernel-text segment (p_vaddr
    /// in the kernel image map) repeats part of a System RAM segment (kernel/crash_core.c
    /// crash_prepare_elf64_headers), so it is used only where no RAM segment covers it. Any other
    /// overlap is corrupt input; the earlier segment wins. O(n log n) whatever the input.
    /// </summary>
    private static List<LoadSegment> SelectPhysicalSegments(List<LoadSegment> segments)
    {
        static bool IsText(LoadSegment s) => s.VirtualAddress >= StartKernelMap;
        var candidates = new List<LoadSegment>(segments.Count);
        foreach (LoadSegment s in segments)
        {
            if (!IsText(s))
                candidates.Add(s);
        }
        List<LoadSegment> ram = Disjoint(candidates);
        var ramEnds = new ulong[ram.Count];
        for (int i = 0; i < ram.Count; i++)
            ramEnds[i] = ram[i].Memory.End.Value;
        candidates = new List<LoadSegment>(ram);
        foreach (LoadSegment s in segments)
        {
            if (IsText(s) && !OverlapsAny(ram, ramEnds, s.Memory))
                candidates.Add(s);
        }
        return Disjoint(candidates);
    }

    /// <summary>
    /// The segments sorted by start, each dropped when it overlaps the one kept before it. The sort is
    /// stable (equal starts keep their order, so the earlier segment wins). Plain arrays and a Comparison,
    /// not LINQ: kds-capture's precompiled image lacks LINQ's sorting code over this struct, so it was
    /// JIT-compiled at every start.
    /// </summary>
    private static List<LoadSegment> Disjoint(List<LoadSegment> segments)
    {
        var order = new (ulong Start, int Index)[segments.Count];
        for (int i = 0; i < order.Length; i++)
            order[i] = (segments[i].Memory.Start.Value, i);
        Array.Sort(order, static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.Index.CompareTo(b.Index));
        var result = new List<LoadSegment>(order.Length);
        ulong end = 0;
        foreach ((_, int index) in order)
        {
            LoadSegment s = segments[index];
            if (result.Count > 0 && s.Memory.Start.Value < end)
                continue;
            result.Add(s);
            end = s.Memory.End.Value;
        }
        return result;
    }

    /// <summary>Whether <paramref name="range"/> overlaps a segment of <paramref name="sorted"/>, disjoint and in
    /// address order, whose ends (strictly increasing) are <paramref name="ends"/>.</summary>
    private static bool OverlapsAny(List<LoadSegment> sorted, ulong[] ends, PhysicalRange range)
    {
        // The first segment ending after the range starts is the only one that can overlap it first.
        int lo = 0, hi = ends.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ends[mid] <= range.Start.Value)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo < sorted.Count && sorted[lo].Memory.Overlaps(range);
    }

    private DumpFormatException Corrupt(string problem, long offset) => new(_source.Name, problem, offset);
}
