using KdumpSharp.Elf;

namespace KdumpSharp.Kexec;

/// <summary>
/// The base of the kernel's direct map of physical memory (page_offset_base). It is randomized
/// in 1 GiB (PUD) steps with CONFIG_RANDOMIZE_MEMORY (arch/x86/mm/kaslr.c), so it is read from the
/// running kernel: /proc/kcore (fs/proc/kcore.c) has one PT_LOAD per System RAM range at
/// its direct-map address, and those are the lowest kernel addresses it lists (vmalloc,
/// vmemmap and the kernel text all lie above the direct map).
/// </summary>
public static class DirectMap
{
    /// <summary>page_offset_base without KASLR (arch/x86/include/asm/page_64_types.h __PAGE_OFFSET_BASE_L4).</summary>
    public const ulong DefaultBase = 0xffff888000000000;

    private const ulong PudSize = 1UL << 30;

    /// <summary>Program headers we read at most; kcore has a few per RAM range.</summary>
    private const int MaxProgramHeaders = 4096;

    /// <summary>Finds the direct-map base from the first bytes of /proc/kcore (header and program headers).</summary>
    public static ulong FromKcoreHeaders(string source, ReadOnlySpan<byte> headers)
    {
        // Kernel-half addresses only: a user-space PT_LOAD cannot be the direct map.
        ulong lowest = KcoreLoads(source, headers).Where(l => l.VirtualAddress >= 0xffff800000000000).Select(l => l.VirtualAddress).DefaultIfEmpty(ulong.MaxValue).Min();
        if (lowest == ulong.MaxValue)
            throw new KexecException($"{source}: no kernel PT_LOAD, cannot find the direct map");
        return lowest & ~(PudSize - 1);
    }

    /// <summary>The PT_LOADs of /proc/kcore's header: (p_vaddr, p_memsz).</summary>
    public static IReadOnlyList<(ulong VirtualAddress, ulong Size)> KcoreLoads(string source, ReadOnlySpan<byte> headers)
    {
        if (headers.Length < Elf64Header.Size || !headers[..4].SequenceEqual(Elf64Header.Magic))
            throw new KexecException($"{source}: not an ELF file", hint: "run as root (reading /proc/kcore needs CAP_SYS_RAWIO)");
        var ehdr = new Elf64Header(headers);
        if (ehdr.Class != Elf64Header.ClassElf64 || ehdr.ProgramHeaderEntrySize != Elf64ProgramHeader.Size || ehdr.ProgramHeaderCount > MaxProgramHeaders)
            throw new KexecException($"{source}: not an x86_64 ELF core header");
        var loads = new List<(ulong, ulong)>();
        for (int i = 0; i < ehdr.ProgramHeaderCount; i++)
        {
            ulong at = ehdr.ProgramHeaderOffset + (ulong)i * Elf64ProgramHeader.Size;
            // Compared without overflow: a damaged e_phoff near 2^64 must not wrap into range.
            if (ehdr.ProgramHeaderOffset > (ulong)headers.Length || at > (ulong)headers.Length - Elf64ProgramHeader.Size)
                throw new KexecException($"{source}: program header {i} lies past the {headers.Length} bytes read");
            var ph = new Elf64ProgramHeader(headers.Slice((int)at, Elf64ProgramHeader.Size));
            if (ph.Type == Elf64ProgramHeader.TypeLoad)
                loads.Add((ph.VirtualAddress, ph.MemorySize));
        }
        return loads;
    }
}
