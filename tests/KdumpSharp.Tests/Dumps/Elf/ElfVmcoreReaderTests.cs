using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Dumps.Elf;

public class ElfVmcoreReaderTests
{
    private static ElfVmcoreReader Open(byte[] file) => new(new MemorySource("test.vmcore", file));

    private static byte[] Pattern(int length, byte seed)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < b.Length; i++)
            b[i] = (byte)(i * 7 + seed);
        return b;
    }

    [Test]
    public void Reads_notes_vmcoreinfo_and_pages()
    {
        var machine = new KernelImageFixture();
        machine.Ram[0x200123] = 0x5a;
        using ElfVmcoreReader reader = Open(machine.ToElfCore());

        Assert.That(reader.Properties.Format, Is.EqualTo(DumpFormat.Elf));
        Assert.That(reader.Properties.IsIncomplete, Is.False);
        Assert.That(reader.Notes.Count(n => n.IsPrStatus), Is.EqualTo(1));
        Assert.That(reader.Vmcoreinfo!.OsRelease, Is.EqualTo("6.1.0-test"));
        Assert.That(reader.Memory.Ranges, Is.EqualTo(new[] { PhysicalRange.FromLength(0, 0x9fc00), PhysicalRange.FromLength(0x100000, KernelImageFixture.RamSize - 0x100000) }));
        byte[] page = new byte[4096];
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x200), page), Is.EqualTo(PageState.Present));
        Assert.That(page[0x123], Is.EqualTo(0x5a));
    }

    [Test]
    public void A_page_straddling_the_end_of_a_range_reads_its_bytes_and_zeros_beyond()
    {
        byte[] data = Pattern(0x9fc00, 3);
        using ElfVmcoreReader reader = Open(new ElfCoreBuilder().AddLoad(0, data).Build());

        byte[] page = new byte[4096];
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x9f), page), Is.EqualTo(PageState.Present));
        Assert.That(page.AsSpan(0, 0xc00).ToArray(), Is.EqualTo(data.AsSpan(0x9f000, 0xc00).ToArray()));
        Assert.That(page.AsSpan(0xc00).ToArray(), Is.All.EqualTo(0));
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0xa0), page), Is.EqualTo(PageState.NotInDump));
    }

    [Test]
    public void Memory_past_p_filesz_is_excluded_not_zero()
    {
        using ElfVmcoreReader reader = Open(new ElfCoreBuilder().AddLoad(0x100000, Pattern(0x2000, 1), memorySize: 0x5000).Build());

        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x101)), Is.EqualTo(PageState.Present));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x102)), Is.EqualTo(PageState.Excluded));
        var fault = Assert.Throws<MemoryFaultException>(() => reader.Memory.ReadUInt64(new PhysicalAddress(0x103008)));
        Assert.That(fault!.State, Is.EqualTo(PageState.Excluded));
        byte[] zeros = new byte[8];
        reader.Memory.Read(new PhysicalAddress(0x103008), zeros, zeroFill: true);
        Assert.That(zeros, Is.All.EqualTo(0));
    }

    [Test]
    public void A_truncated_file_opens_reads_whole_pages_and_reports_the_rest_lost()
    {
        byte[] file = new ElfCoreBuilder().AddLoad(0x100000, Pattern(0x4000, 9)).Build();
        int cut = file.Length - 0x2800;
        using ElfVmcoreReader reader = Open(file[..cut]);

        Assert.That(reader.Properties.IsIncomplete, Is.True);
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x100)), Is.EqualTo(PageState.Present));
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x100), new byte[4096]), Is.EqualTo(PageState.Present));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x101)), Is.EqualTo(PageState.Lost));
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x101), new byte[4096]), Is.EqualTo(PageState.Lost));
        Assert.That(reader.Memory.GetPageState(new PageFrameNumber(0x103)), Is.EqualTo(PageState.Lost));
    }

    [Test]
    public void The_kernel_text_segment_does_not_shadow_the_ram_segment()
    {
        byte[] ram = Pattern(0x10000, 5);
        byte[] text = new byte[0x2000];
        using ElfVmcoreReader reader = Open(new ElfCoreBuilder()
            .AddLoad(0x1000000, text, virtualAddress: 0xffffffff81000000)
            .AddLoad(0x1000000, ram, virtualAddress: 0xffff888001000000)
            .Build());

        Assert.That(reader.Segments, Has.Count.EqualTo(1));
        Assert.That(reader.Memory.ReadUInt64(new PhysicalAddress(0x1000008)), Is.EqualTo(BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan(8))));
    }

    [TestCase((ushort)2, "ELF executable", TestName = "A vmlinux is not a core")]
    [TestCase((ushort)1, "relocatable", TestName = "A kernel module is not a core")]
    public void Elf_files_that_are_not_cores_are_named(ushort type, string expected)
    {
        byte[] file = new ElfCoreBuilder { Type = type }.Build();
        var ex = Assert.Throws<UnrecognizedDumpException>(() => Open(file));
        Assert.That(ex!.Message, Does.Contain(expected));
    }

    [Test]
    public void Another_machine_is_rejected()
    {
        var ex = Assert.Throws<UnrecognizedDumpException>(() => Open(new ElfCoreBuilder { Machine = 183 }.Build()));
        Assert.That(ex!.Message, Does.Contain("machine 183"));
    }

    [Test]
    public void Too_many_program_headers_is_refused_before_allocating()
    {
        byte[] file = new ElfCoreBuilder().AddLoad(0, new byte[4096]).Build();
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(56), 0xfffe);
        var ex = Assert.Throws<DumpFormatException>(() => new ElfVmcoreReader(new MemorySource("x", file), new DumpLimits { MaxProgramHeaders = 100 }));
        Assert.That(ex!.Message, Does.Contain("65534 program headers exceed the limit of 100"));
    }

    [Test]
    public void A_note_running_past_its_segment_is_corrupt()
    {
        byte[] file = new ElfCoreBuilder().AddVmcoreinfo("OSRELEASE=6.1.0\n").Build();
        int notesOffset = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(ElfCoreBuilder.ProgramHeaderOffset(0) + 8));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(notesOffset + 4), 0x10000);
        var ex = Assert.Throws<DumpFormatException>(() => Open(file));
        Assert.That(ex!.Message, Does.Contain("ELF note claims"));
    }

    [Test]
    public void Filesz_larger_than_memsz_is_corrupt()
    {
        byte[] file = new ElfCoreBuilder().AddLoad(0, new byte[8192], memorySize: 4096).Build();
        var ex = Assert.Throws<DumpFormatException>(() => Open(file));
        Assert.That(ex!.Message, Does.Contain("p_filesz 0x2000 larger than p_memsz 0x1000"));
    }
}
