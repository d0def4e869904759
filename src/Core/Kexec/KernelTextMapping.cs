using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// Where the running kernel image is: virtual [_text, _end) in the __START_KERNEL_map window
/// (0xffffffff80000000 + KASLR offset) and the physical address of _text. The dump describes it
/// with its own PT_LOAD so tools can read kernel symbols without walking page tables; the in-kernel
/// kexec_file path does the same (kernel/crash_core.c crash_prepare_elf64_headers, need_kernel_map).
/// </summary>
public readonly record struct KernelTextMapping(ulong VirtualStart, PhysicalAddress PhysicalStart, ulong Size)
{
    /// <summary>__START_KERNEL_map (arch/x86/include/asm/page_64_types.h); _text lies above it.</summary>
    public const ulong StartKernelMap = 0xffffffff80000000;

    /// <summary>
    /// Reads _text (and _end, when listed) from /proc/kallsyms text, and the physical start from
    /// iomem's "Kernel code" (arch/x86/kernel/setup.c: code_resource.start = __pa_symbol(_text)).
    /// kallsyms lists _end only with CONFIG_KALLSYMS_ALL; otherwise the end comes from
    /// /proc/kcore's text PT_LOAD, which fs/proc/kcore.c registers as [_text, _end) — kexec-tools
    /// reads it the same way.
    /// </summary>
    public static KernelTextMapping From(string kallsymsSource, string kallsyms, Iomem iomem, IReadOnlyList<(ulong VirtualAddress, ulong Size)> kcoreLoads)
    {
        ulong text = 0, end = 0;
        foreach (string line in kallsyms.Split('\n'))
        {
            // "ffffffff81000000 T _text"
            if (line.EndsWith(" _text", StringComparison.Ordinal))
                text = ParseAddress(line);
            else if (line.EndsWith(" _end", StringComparison.Ordinal))
                end = ParseAddress(line);
            if (text != 0 && end != 0)
                break;
        }
        if (text == 0)
            throw new KexecException($"{kallsymsSource}: _text is missing or reads as 0 (kptr_restrict hides addresses from non-root)", hint: "run as root");
        if (end == 0)
            foreach ((ulong vaddr, ulong size) in kcoreLoads)
                if (text >= vaddr && text - vaddr < size)
                    end = vaddr + size;
        if (end == 0)
            throw new KexecException($"{kallsymsSource}: no _end, and no /proc/kcore PT_LOAD holds _text 0x{text:x}");
        if (text < StartKernelMap || end <= text || end - text > 1UL << 30)
            throw new KexecException($"{kallsymsSource}: _text 0x{text:x} .. _end 0x{end:x} is not a kernel image in the __START_KERNEL_map window");
        IReadOnlyList<PhysicalRange> code = iomem.Find("Kernel code");
        if (code.Count != 1)
            throw new KexecException($"/proc/iomem: expected one \"Kernel code\" range, found {code.Count}");
        return new KernelTextMapping(text, code[0].Start, BzImage.AlignUp(end - text, PageFrameNumber.PageSize));
    }

    private static ulong ParseAddress(string line)
    {
        int space = line.IndexOf(' ');
        return space > 0 && ulong.TryParse(line.AsSpan(0, space), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v) ? v : 0;
    }
}
