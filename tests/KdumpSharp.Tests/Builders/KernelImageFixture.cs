using System.Text;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// A tiny machine: 32 MiB of RAM by default (8 MiB in the small variant used for fuzzing) with page tables that map the kernel image (2 MiB pages at the
/// KASLR-shifted link address), the direct map (one 1 GiB page at a randomized base) and one
/// 4 KiB vmalloc page, plus the VMCOREINFO a kernel would export for them.
/// </summary>
internal sealed class KernelImageFixture
{
    public const ulong StartKernelMap = 0xffffffff80000000;
    public const int RamSize = 32 << 20;
    public const ulong ImagePhys = 0x1000000;
    public const ulong VmallocPage = 0xffffc90000003000;
    public const ulong VmallocTarget = 0x7000;

    public KernelImageFixture(int levels = 4, ulong smeMask = 0, ulong physBase = 0x200000, ulong directMapBase = 0xffff9a0000000000, bool small = false)
    {
        Ram = new byte[small ? 8 << 20 : RamSize];
        ImagePhysical = small ? 0x200000UL : ImagePhys;
        PhysBase = physBase;
        DirectMapBase = directMapBase;
        ImageVirtual = ImagePhysical - physBase + StartKernelMap;
        // Page tables live inside the image, as init_top_pgt does.
        var tables = new PageTableBuilder(Ram, ImagePhysical + 0x300000, levels, smeMask);
        tables.Map2M(ImageVirtual, ImagePhysical);
        tables.Map2M(ImageVirtual + 0x200000, ImagePhysical + 0x200000);
        tables.Map1G(directMapBase, 0);
        tables.Map4K(VmallocPage, VmallocTarget);
        var text = new StringBuilder();
        text.Append("OSRELEASE=6.1.0-test\nPAGESIZE=4096\n");
        text.Append($"SYMBOL(init_top_pgt)={tables.Root - ImagePhysical + ImageVirtual:x}\n");
        text.Append($"NUMBER(phys_base)={(long)physBase}\n");
        text.Append($"NUMBER(pgtable_l5_enabled)={(levels == 5 ? 1 : 0)}\n");
        text.Append($"NUMBER(sme_mask)={(long)smeMask}\n");
        text.Append("KERNELOFFSET=0\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\nCRASHTIME=1700000000\n");
        Vmcoreinfo = text.ToString();
    }

    public byte[] Ram { get; }
    public ulong PhysBase { get; }
    public ulong DirectMapBase { get; }
    public ulong ImageVirtual { get; }
    public ulong ImagePhysical { get; }
    public string Vmcoreinfo { get; }

    public KdumpSharp.Kernel.Vmcoreinfo ParsedVmcoreinfo => KdumpSharp.Kernel.Vmcoreinfo.Parse(Encoding.ASCII.GetBytes(Vmcoreinfo));

    public SparsePhysicalMemory ToPhysicalMemory()
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, (ulong)Ram.Length));
        memory.Write(0, Ram);
        return memory;
    }

    /// <summary>An ELF vmcore of this machine laid out as /proc/vmcore is: RAM split at the legacy hole.</summary>
    public byte[] ToElfCore()
    {
        return new ElfCoreBuilder()
            .AddPrStatus(1234, 0xffffffff81234567, 0xffffc90000004000)
            .AddVmcoreinfo(Vmcoreinfo)
            .AddLoad(0, Ram[..0x9fc00], virtualAddress: DirectMapBase)
            .AddLoad(0x100000, Ram[0x100000..], virtualAddress: DirectMapBase + 0x100000)
            .Build();
    }
}
