using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kexec;

/// <summary>
/// A fake /proc and /sys tree shaped like a 6 GiB QEMU q35 guest booted with crashkernel=256M
/// (layout as the kernel prints it: kernel/resource.c r_show, drivers/firmware/memmap.c).
/// </summary>
internal static class SampleSystem
{
    public const string Iomem = """
        00000000-00000fff : Reserved
        00001000-0009fbff : System RAM
        0009fc00-0009ffff : Reserved
        000a0000-000bffff : PCI Bus 0000:00
        000c0000-000c99ff : Video ROM
        000f0000-000fffff : Reserved
          000f0000-000fffff : System ROM
        00100000-7ffdefff : System RAM
          1f000000-1fc01fff : Kernel code
          1fe00000-2039afff : Kernel rodata
          20400000-2062d27f : Kernel data
          20b5b000-20ffffff : Kernel bss
          6f000000-7effffff : Crash kernel
        7ffdf000-7ffdffff : ACPI Non-volatile Storage
        7ffe0000-7ffe1fff : ACPI Tables
        7ffe2000-7fffffff : Reserved
        b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
          b0000000-bfffffff : Reserved
        fec00000-fec003ff : IOAPIC 0
        fee00000-fee00fff : Local APIC
        fffc0000-ffffffff : Reserved
        100000000-17fffffff : System RAM

        """;

    /// <summary>/sys/firmware/memmap entries: (start, end inclusive, type).</summary>
    public static readonly (ulong Start, ulong End, string Type)[] Memmap =
    [
        (0x0, 0x9fbff, "System RAM"),
        (0x9fc00, 0x9ffff, "Reserved"),
        (0xf0000, 0xfffff, "Reserved"),
        (0x100000, 0x7ffdefff, "System RAM"),
        (0x7ffdf000, 0x7ffdffff, "ACPI Non-volatile Storage"),
        (0x7ffe0000, 0x7ffe1fff, "ACPI Tables"),
        (0x7ffe2000, 0x7fffffff, "Reserved"),
        (0xb0000000, 0xbfffffff, "Reserved"),
        (0xfffc0000, 0xffffffff, "Reserved"),
        (0x100000000, 0x17fffffff, "System RAM"),
    ];

    public const ulong TextVirtual = 0xffffffff9e000000;
    public const ulong EndVirtual = 0xffffffffa0000000 + 0x123;
    /// <summary>The kcore text PT_LOAD's size: [_text, _end) as fs/proc/kcore.c registers it.</summary>
    public const ulong TextSize = 0x2345000;
    public const ulong DirectMapBase = 0xffff9a4c00000000;

    public static TempDirectory Create(int cpus = 2)
    {
        var dir = new TempDirectory();
        Write(dir, "proc/iomem", Iomem);
        for (int i = 0; i < Memmap.Length; i++)
        {
            // Directory order is not address order on a real system either; number them backwards.
            string entry = $"sys/firmware/memmap/{Memmap.Length - 1 - i}";
            Write(dir, $"{entry}/start", $"0x{Memmap[i].Start:x}\n");
            Write(dir, $"{entry}/end", $"0x{Memmap[i].End:x}\n");
            Write(dir, $"{entry}/type", Memmap[i].Type + "\n");
        }
        for (int cpu = 0; cpu < cpus; cpu++)
        {
            Write(dir, $"sys/devices/system/cpu/cpu{cpu}/crash_notes", $"{0x17fc1a000UL + (ulong)cpu * 0x1000:x}\n");
            Write(dir, $"sys/devices/system/cpu/cpu{cpu}/crash_notes_size", "368\n");
        }
        Directory.CreateDirectory(dir["sys/devices/system/cpu/cpufreq"]);
        Write(dir, "sys/kernel/vmcoreinfo", "0x000000001ff2e000 1024\n");
        Directory.CreateDirectory(dir["sys/kernel/boot_params"]);
        byte[] zeroPage = new byte[4096];
        zeroPage[0x70] = 0x40; // acpi_rsdp_addr 0xf5a40
        zeroPage[0x71] = 0x5a;
        zeroPage[0x72] = 0x0f;
        File.WriteAllBytes(dir["sys/kernel/boot_params/data"], zeroPage);
        File.WriteAllBytes(dir["proc/kcore"], Kcore());
        Write(dir, "proc/kallsyms", $"{TextVirtual:x} T _text\n{TextVirtual + 0x1000:x} T _stext\n{EndVirtual:x} B _end\n");
        return dir;
    }

    /// <summary>The start of /proc/kcore as fs/proc/kcore.c lays it out: a note, then text, vmalloc, RAM and vmemmap PT_LOADs.</summary>
    public static byte[] Kcore()
    {
        (ulong Vaddr, uint Type)[] loads =
        [
            (0, 4), (TextVirtual, 1), (0xffffb1cb40000000, 1),
            (DirectMapBase + 0x1000, 1), (DirectMapBase + 0x100000, 1), (0xffffd7e340000000, 1),
        ];
        byte[] kcore = new byte[64 + loads.Length * 56];
        KdumpSharp.Elf.Elf64Header.WriteCore(kcore, (ushort)loads.Length, 0);
        for (int i = 0; i < loads.Length; i++)
        {
            ulong size = loads[i].Vaddr == TextVirtual ? TextSize : 0x1000;
            new KdumpSharp.Elf.Elf64ProgramHeader(loads[i].Type, 0x1000, loads[i].Vaddr, 0, size, size).Write(kcore.AsSpan(64 + i * 56));
        }
        return kcore;
    }

    public static void Write(TempDirectory dir, string relative, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(dir[relative])!);
        File.WriteAllText(dir[relative], text);
    }
}
