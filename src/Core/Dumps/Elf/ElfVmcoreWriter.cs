using KdumpSharp.Elf;
using System.Buffers.Binary;
using KdumpSharp.Architecture;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Elf;

/// <summary>
/// Writes any dump as an ELF64 vmcore that vmcore-dmesg, crash and drgn read: one PT_NOTE with all
/// the source's notes, then PT_LOADs. Each run of present pages followed by a run of missing ones
/// becomes one PT_LOAD whose p_memsz covers both and whose p_filesz covers the present part, as
/// makedumpfile -E does, so excluded memory is never shown as zeros. p_vaddr is the direct-map
/// address (found from the dump's page tables), and a kernel-text PT_LOAD maps the kernel image
/// like the kernel's own header (kernel/crash_core.c), because vmcore-dmesg translates symbols
/// through PT_LOAD virtual addresses.
/// </summary>
public static class ElfVmcoreWriter
{
    private const int DataAlignment = PageFrameNumber.PageSize;

    public static ElfWriteResult Write(IDumpReader source, Stream output, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        PhysicalMemory memory = source.Memory;
        var mappings = KernelMappings.Find(source);
        List<Run> runs = PlanRuns(memory, cancellationToken);
        byte[] notes = SerializeNotes(source.Notes);

        // Offsets are laid out relative to the data area first, then shifted once the header size is known.
        var loads = new List<Elf64ProgramHeader>(runs.Count + 1);
        long at = 0;
        foreach (Run run in runs)
        {
            loads.Add(new Elf64ProgramHeader(Elf64ProgramHeader.TypeLoad, (ulong)at,
                mappings.DirectMapBase is ulong b ? b + run.Start : 0, run.Start, run.FileBytes, run.End - run.Start));
            at += (long)run.FileBytes;
        }
        loads.AddRange(mappings.TextSegments(loads).ToList());

        int total = 1 + loads.Count;
        long headersEnd = Elf64Header.Size + (long)total * Elf64ProgramHeader.Size + (total >= Elf64Header.ExtendedNumbering ? Elf64Header.SectionHeaderSize : 0);
        long notesOffset = headersEnd;
        long dataOffset = Align(notesOffset + notes.Length, DataAlignment);
        for (int i = 0; i < loads.Count; i++)
            loads[i] = loads[i].WithFileOffset(loads[i].FileSize == 0 ? 0 : loads[i].FileOffset + (ulong)dataOffset);

        byte[] headers = new byte[headersEnd];
        Elf64Header.WriteCore(headers, total >= Elf64Header.ExtendedNumbering ? Elf64Header.ExtendedNumbering : (ushort)total,
            source.Properties.IsIncomplete ? Elf64Header.FlagIncomplete : 0);
        if (total >= Elf64Header.ExtendedNumbering)
        {
            // PN_XNUM: the real count goes in sh_info of section header 0 (include/uapi/linux/elf.h).
            long sh = Elf64Header.Size + (long)total * Elf64ProgramHeader.Size;
            BinaryPrimitives.WriteUInt64LittleEndian(headers.AsSpan(Elf64Header.ShOffOffset), (ulong)sh);
            BinaryPrimitives.WriteUInt16LittleEndian(headers.AsSpan(Elf64Header.ShNumOffset), 1);
            BinaryPrimitives.WriteUInt32LittleEndian(headers.AsSpan((int)sh + Elf64Header.SectionInfoOffset), (uint)total);
        }
        new Elf64ProgramHeader(Elf64ProgramHeader.TypeNote, (ulong)notesOffset, 0, 0, (ulong)notes.Length, (ulong)notes.Length)
            .Write(headers.AsSpan(Elf64Header.Size));
        for (int i = 0; i < loads.Count; i++)
            loads[i].Write(headers.AsSpan(Elf64Header.Size + (i + 1) * Elf64ProgramHeader.Size));
        output.Write(headers);
        output.Write(notes);
        output.Write(new byte[dataOffset - notesOffset - notes.Length]);

        ulong totalBytes = runs.Aggregate(0UL, (sum, r) => sum + r.FileBytes);
        ulong written = 0;
        byte[] page = new byte[PageFrameNumber.PageSize];
        foreach (Run run in runs)
        {
            ulong address = run.Start;
            ulong fileEnd = run.Start + run.FileBytes;
            while (address < fileEnd)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var pa = new PhysicalAddress(address);
                int offset = (int)pa.PageOffset;
                int count = (int)Math.Min((ulong)(PageFrameNumber.PageSize - offset), fileEnd - address);
                if (memory.ReadPage(pa.Frame, page) != PageState.Present)
                    throw new InvalidOperationException($"page {pa.Frame} changed state while being written");
                output.Write(page, offset, count);
                address += (ulong)count;
                written += (ulong)count;
                if ((written & 0xffffff) == 0)
                    progress?.Report((double)written / totalBytes);
            }
        }
        progress?.Report(1.0);
        return new ElfWriteResult(runs.Count, totalBytes, runs.Aggregate(0UL, (sum, r) => sum + (r.End - r.Start - r.FileBytes)));
    }

    /// <summary>
    /// Splits every RAM range into runs: present bytes from the start, then the missing tail.
    /// A range is cut where a present page follows a missing one.
    /// </summary>
    private static List<Run> PlanRuns(PhysicalMemory memory, CancellationToken cancellationToken)
    {
        var runs = new List<Run>();
        foreach (PhysicalRange range in memory.Ranges)
        {
            ulong runStart = range.Start.Value;
            ulong presentEnd = runStart;
            bool inMissingTail = false;
            ulong address = runStart;
            while (address < range.End.Value)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var pa = new PhysicalAddress(address);
                ulong next = Math.Min(range.End.Value, (pa.Frame + 1).Address.Value);
                bool present = memory.GetPageState(pa.Frame) == PageState.Present;
                if (present && inMissingTail)
                {
                    runs.Add(new Run(runStart, address, presentEnd - runStart));
                    runStart = address;
                    inMissingTail = false;
                }
                if (present)
                    presentEnd = next;
                else
                    inMissingTail = true;
                address = next;
            }
            runs.Add(new Run(runStart, range.End.Value, presentEnd - runStart));
        }
        return runs;
    }

    private static byte[] SerializeNotes(IReadOnlyList<ElfNote> notes)
    {
        using var buffer = new MemoryStream();
        foreach (ElfNote note in notes)
            ElfNote.Write(buffer, note.Name, note.Type, note.Descriptor.Span);
        return buffer.ToArray();
    }

    private static long Align(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    /// <summary>Physical [Start, End) with its first <see cref="FileBytes"/> bytes present.</summary>
    private readonly record struct Run(ulong Start, ulong End, ulong FileBytes);

    /// <summary>Where the crashed kernel mapped RAM and its own image, found from its page tables.</summary>
    private sealed record KernelMappings(ulong? DirectMapBase, ulong PhysBase, (ulong Start, ulong End)? Image)
    {
        public static KernelMappings Find(IDumpReader source)
        {
            if (source.Vmcoreinfo is not Vmcoreinfo info)
                return new KernelMappings(null, 0, null);
            try
            {
                var vm = new X86_64VirtualMemory(source.Memory, info);
                ulong imageSize = (ulong)(info.Number("KERNEL_IMAGE_SIZE") ?? (1L << 30));
                return new KernelMappings(vm.FindDirectMapBase(), vm.PhysBase, vm.FindKernelImageMapping(imageSize));
            }
            catch (Exception e) when (e is KernelDataException or MemoryFaultException)
            {
                // Without usable page tables the dump is still worth converting; readers then lack p_vaddr.
                return new KernelMappings(null, 0, null);
            }
        }

        /// <summary>PT_LOADs for the kernel image, pointing at the same file bytes as the RAM segments holding it.</summary>
        public IEnumerable<Elf64ProgramHeader> TextSegments(List<Elf64ProgramHeader> ramSegments)
        {
            if (Image is not var (start, end))
                yield break;
            ulong textPhysStart = start - X86_64VirtualMemory.StartKernelMap + PhysBase;
            ulong textPhysEnd = end - X86_64VirtualMemory.StartKernelMap + PhysBase;
            foreach (Elf64ProgramHeader ram in ramSegments)
            {
                ulong from = Math.Max(textPhysStart, ram.PhysicalAddress);
                ulong to = Math.Min(textPhysEnd, ram.PhysicalAddress + ram.FileSize);
                if (from >= to)
                    continue;
                ulong delta = from - ram.PhysicalAddress;
                yield return new Elf64ProgramHeader(Elf64ProgramHeader.TypeLoad, ram.FileOffset + delta,
                    from - PhysBase + X86_64VirtualMemory.StartKernelMap, from, to - from, to - from);
            }
        }
    }
}

/// <summary>What <see cref="ElfVmcoreWriter"/> wrote.</summary>
public readonly record struct ElfWriteResult(int LoadSegments, ulong BytesWritten, ulong BytesExcluded);
