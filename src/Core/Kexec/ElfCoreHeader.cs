using KdumpSharp.Elf;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// The ELF64 ET_CORE header the crash kernel finds through <c>elfcorehdr=</c> and turns into
/// /proc/vmcore (fs/proc/vmcore.c). It has program headers only; every p_offset is a *physical
/// address* in the crashed machine, not a file offset. Order and contents follow the kernel's own
/// builder (kernel/crash_core.c crash_prepare_elf64_headers) and kexec-tools (kexec/crashdump-elf.c):
/// <list type="number">
/// <item>one PT_NOTE per CPU at its crash_notes buffer (NT_PRSTATUS written at panic);</item>
/// <item>one PT_NOTE for VMCOREINFO (/sys/kernel/vmcoreinfo);</item>
/// <item>one PT_LOAD for the kernel image: vaddr _text, paddr __pa(_text), _end - _text bytes;</item>
/// <item>one PT_LOAD per dumped RAM range with vaddr = direct-map base + paddr.</item>
/// </list>
/// </summary>
public static class ElfCoreHeader
{
    /// <summary>Memory reserved for the header: kexec-tools pads it to at least 16 KiB so nothing lands right after it.</summary>
    public const ulong MinimumMemorySize = 16 << 10;

    /// <summary>Program headers in one header; e_phnum is 16-bit and PN_XNUM (0xffff) is reserved.</summary>
    private const int MaxProgramHeaders = 0xfffe;

    public static byte[] Build(CrashDumpDescription crash)
    {
        var headers = new List<Elf64ProgramHeader>();
        foreach (CpuCrashNote note in crash.CrashNotes)
            headers.Add(new Elf64ProgramHeader(Elf64ProgramHeader.TypeNote, note.Address.Value, 0, note.Address.Value, note.Size, note.Size));
        VmcoreinfoNoteLocation info = crash.Vmcoreinfo;
        headers.Add(new Elf64ProgramHeader(Elf64ProgramHeader.TypeNote, info.Address.Value, 0, info.Address.Value, info.Size, info.Size));
        KernelTextMapping text = crash.KernelText;
        headers.Add(new Elf64ProgramHeader(Elf64ProgramHeader.TypeLoad, text.PhysicalStart.Value, text.VirtualStart, text.PhysicalStart.Value, text.Size, text.Size));
        foreach (PhysicalRange range in crash.DumpRanges)
            headers.Add(new Elf64ProgramHeader(Elf64ProgramHeader.TypeLoad, range.Start.Value, crash.DirectMapBase + range.Start.Value, range.Start.Value, range.Length, range.Length));
        if (headers.Count > MaxProgramHeaders)
            throw new KexecException($"crash dump needs {headers.Count} ELF program headers, more than {MaxProgramHeaders}");

        byte[] bytes = new byte[Elf64Header.Size + headers.Count * Elf64ProgramHeader.Size];
        Elf64Header.WriteCore(bytes, (ushort)headers.Count, flags: 0);
        for (int i = 0; i < headers.Count; i++)
            headers[i].Write(bytes.AsSpan(Elf64Header.Size + i * Elf64ProgramHeader.Size));
        return bytes;
    }

    /// <summary>The memsz to reserve for a header of <paramref name="length"/> bytes: page-aligned, at least 16 KiB.</summary>
    public static ulong MemorySize(int length) => Math.Max(MinimumMemorySize, BzImage.AlignUp((ulong)length, PageFrameNumber.PageSize));

    /// <summary>The command-line argument (kernel/crash_dump.c parses "elfcorehdr=[size@]offset" with memparse).</summary>
    public static string CommandLineArgument(ulong address) =>
        address % 1024 == 0 ? $"elfcorehdr={address >> 10}K" : $"elfcorehdr=0x{address:x}";
}
