using KdumpSharp.Dumps;
using KdumpSharp.Memory;

namespace KdumpSharp.Kernel;

/// <summary>
/// Reads the crashed kernel's utsname from its memory, as makedumpfile's check_release does:
/// <c>SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name)</c>, or + 4 on kernels that do not export the
/// offset (struct kref came first). x86_64 only: a kernel image symbol lies at physical
/// <c>x - __START_KERNEL_map + phys_base</c> (__pa_symbol, arch/x86/include/asm/page_64.h), and the
/// kernel is known to be x86_64 by SYMBOL(init_top_pgt) (init_level4_pgt before 4.13), which only
/// arch/x86/kernel/vmcore_info_64.c exports. A result whose sysname is not "Linux" or whose release
/// differs from VMCOREINFO's OSRELEASE is discarded, as makedumpfile does on a mismatch.
/// </summary>
internal static class InitUtsName
{
    private const ulong StartKernelMap = 0xffffffff80000000;
    private const ulong LegacyNameOffset = sizeof(int);

    /// <param name="physBase">NUMBER(phys_base), or the kdump sub header's copy for kernels that do not export it.</param>
    public static UtsName? TryRead(PhysicalMemory memory, Vmcoreinfo info, ulong physBase)
    {
        if (info.Symbol("init_top_pgt") is null && info.Symbol("init_level4_pgt") is null)
            return null;
        if (info.Symbol("init_uts_ns") is not ulong symbol)
            return null;
        ulong address = symbol + (info.Offset("uts_namespace.name") ?? LegacyNameOffset);
        if (address < StartKernelMap)
            return null;
        var bytes = new byte[UtsName.Size];
        try
        {
            memory.Read(new PhysicalAddress(address - StartKernelMap + physBase), bytes);
        }
        catch (MemoryFaultException)
        {
            return null;
        }
        UtsName uts = UtsName.Parse(bytes);
        return uts.SysName == "Linux" && uts.Release == info.OsRelease ? uts : null;
    }
}
