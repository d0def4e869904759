using KdumpSharp.Elf;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kexec;

public class ElfCoreHeaderTests
{
    private static PhysicalRange R(ulong start, ulong end) => new(new(start), new(end));

    private static (CrashDumpDescription Crash, byte[] Header) Build()
    {
        using TempDirectory dir = SampleSystem.Create(cpus: 3);
        var system = new RunningSystem(dir.Path);
        Iomem iomem = system.ReadIomem();
        var crash = new CrashDumpDescription(
            system.ReadCrashNotes(), system.ReadVmcoreinfo(), system.ReadKernelTextMapping(iomem), SampleSystem.DirectMapBase,
            CrashDumpDescription.DumpRangesOf(iomem, RunningSystem.CrashRegions(iomem)));
        return (crash, ElfCoreHeader.Build(crash));
    }

    [Test]
    public void Dump_ranges_are_system_ram_minus_low_memory_and_the_crash_region()
    {
        (CrashDumpDescription crash, _) = Build();
        Assert.That(crash.DumpRanges, Is.EqualTo(new[]
        {
            R(0x100000, 0x6f000000), R(0x7f000000, 0x7ffdf000), R(0x100000000, 0x180000000),
        }));
    }

    [Test]
    public void Header_is_an_x86_64_core_with_notes_then_loads()
    {
        (CrashDumpDescription crash, byte[] h) = Build();
        var ehdr = new Elf64Header(h);
        Assert.That(h.AsSpan(0, 4).SequenceEqual(Elf64Header.Magic), Is.True);
        Assert.That(ehdr.Class, Is.EqualTo(Elf64Header.ClassElf64));
        Assert.That(ehdr.Data, Is.EqualTo(Elf64Header.DataLittleEndian));
        Assert.That(ehdr.Type, Is.EqualTo(Elf64Header.TypeCore));
        Assert.That(ehdr.Machine, Is.EqualTo(Elf64Header.MachineX86_64));
        Assert.That(ehdr.ProgramHeaderOffset, Is.EqualTo(64));
        Assert.That(ehdr.ProgramHeaderEntrySize, Is.EqualTo(56));
        Assert.That(ehdr.ProgramHeaderCount, Is.EqualTo(3 + 1 + 1 + 3));
        Assert.That(h, Has.Length.EqualTo(64 + 8 * 56));

        var ph = Enumerable.Range(0, ehdr.ProgramHeaderCount).Select(i => new Elf64ProgramHeader(h.AsSpan(64 + i * 56))).ToList();
        for (int cpu = 0; cpu < 3; cpu++)
        {
            Assert.That(ph[cpu].Type, Is.EqualTo(Elf64ProgramHeader.TypeNote));
            Assert.That(ph[cpu].FileOffset, Is.EqualTo(0x17fc1a000UL + (ulong)cpu * 0x1000), "p_offset = crash_notes physical address");
            Assert.That(ph[cpu].PhysicalAddress, Is.EqualTo(ph[cpu].FileOffset));
            Assert.That(ph[cpu].FileSize, Is.EqualTo(368));
            Assert.That(ph[cpu].VirtualAddress, Is.Zero);
        }
        Assert.That((ph[3].Type, ph[3].FileOffset, ph[3].FileSize), Is.EqualTo((Elf64ProgramHeader.TypeNote, 0x1ff2e000UL, 0x1024UL)), "VMCOREINFO note");
        Assert.That((ph[4].Type, ph[4].VirtualAddress, ph[4].PhysicalAddress, ph[4].FileSize),
            Is.EqualTo((Elf64ProgramHeader.TypeLoad, SampleSystem.TextVirtual, 0x1f000000UL, 0x2001000UL)), "kernel text");
        Assert.That(ph[4].FileOffset, Is.EqualTo(ph[4].PhysicalAddress));
        for (int i = 5; i < 8; i++)
        {
            PhysicalRange r = crash.DumpRanges[i - 5];
            Assert.That(ph[i].Type, Is.EqualTo(Elf64ProgramHeader.TypeLoad));
            Assert.That(ph[i].PhysicalAddress, Is.EqualTo(r.Start.Value));
            Assert.That(ph[i].FileOffset, Is.EqualTo(r.Start.Value));
            Assert.That(ph[i].VirtualAddress, Is.EqualTo(SampleSystem.DirectMapBase + r.Start.Value), "direct map");
            Assert.That(ph[i].FileSize, Is.EqualTo(r.Length));
            Assert.That(ph[i].MemorySize, Is.EqualTo(r.Length));
        }
        // p_flags: RWX on loads, as the kernel writes them (kernel/crash_core.c).
        Assert.That(BitConverter.ToUInt32(h, 64 + 5 * 56 + 4), Is.EqualTo(7));
    }

    [Test]
    public void Memory_size_and_command_line_argument()
    {
        Assert.That(ElfCoreHeader.MemorySize(100), Is.EqualTo(16 << 10));
        Assert.That(ElfCoreHeader.MemorySize(20000), Is.EqualTo(20480));
        Assert.That(ElfCoreHeader.CommandLineArgument(0x7effc000), Is.EqualTo("elfcorehdr=2080752K"));
        Assert.That(ElfCoreHeader.CommandLineArgument(0x7effc200), Is.EqualTo("elfcorehdr=0x7effc200"));
    }
}
