using KdumpSharp.Elf;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Dumps.Elf;

public class ElfVmcoreWriterTests
{
    [Test]
    public void Round_trip_keeps_every_page_notes_and_excluded_runs()
    {
        var machine = new KernelImageFixture();
        new Random(42).NextBytes(machine.Ram.AsSpan(0x800000, 0x100000));
        using var source = new ElfVmcoreReader(new MemorySource("in", ExcludeRange(machine.ToElfCore(), 0x900000, 0x10000)));

        using var output = new MemoryStream();
        ElfWriteResult result = ElfVmcoreWriter.Write(source, output);
        using var copy = new ElfVmcoreReader(new MemorySource("out", output.ToArray()));

        Assert.That(copy.Memory.Ranges, Is.EqualTo(source.Memory.Ranges));
        Assert.That(copy.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray())), Is.EqualTo(source.Notes.Select(n => (n.Name, n.Type, n.Descriptor.ToArray()))));
        Assert.That(result.BytesExcluded, Is.EqualTo(0x10000UL));
        byte[] a = new byte[4096], b = new byte[4096];
        for (ulong pfn = 0; pfn < KernelImageFixture.RamSize / 4096; pfn++)
        {
            PageState sa = source.Memory.ReadPage(new PageFrameNumber(pfn), a);
            PageState sb = copy.Memory.ReadPage(new PageFrameNumber(pfn), b);
            Assert.That(sb, Is.EqualTo(sa), $"state of pfn 0x{pfn:x}");
            if (sa == PageState.Present)
                Assert.That(b, Is.EqualTo(a), $"bytes of pfn 0x{pfn:x}");
        }
        Assert.That(copy.Memory.GetPageState(new PageFrameNumber(0x905)), Is.EqualTo(PageState.Excluded));
    }

    [Test]
    public void Segments_carry_direct_map_and_kernel_image_virtual_addresses()
    {
        var machine = new KernelImageFixture(directMapBase: 0xffff8f8000000000);
        using var source = new ElfVmcoreReader(new MemorySource("in", machine.ToElfCore()));
        using var output = new MemoryStream();
        ElfVmcoreWriter.Write(source, output);

        byte[] file = output.ToArray();
        var headers = Enumerable.Range(1, BitConverter.ToUInt16(file, 56) - 1)
            .Select(i => new Elf64ProgramHeader(file.AsSpan(64 + i * 56, 56))).ToList();
        Assert.That(headers.Where(h => h.VirtualAddress < KernelImageFixture.StartKernelMap).Select(h => h.VirtualAddress - h.PhysicalAddress), Is.All.EqualTo(0xffff8f8000000000));
        var text = headers.Single(h => h.VirtualAddress >= KernelImageFixture.StartKernelMap);
        Assert.That(text.VirtualAddress, Is.EqualTo(machine.ImageVirtual));
        Assert.That(text.PhysicalAddress, Is.EqualTo(machine.ImagePhysical));
        Assert.That(text.MemorySize, Is.EqualTo(0x400000UL));
    }

    /// <summary>Rewrites a built core so that [start, start+length) is excluded, the way makedumpfile -E splits segments.</summary>
    private static byte[] ExcludeRange(byte[] elf, ulong start, ulong length)
    {
        using var reader = new ElfVmcoreReader(new MemorySource("x", elf));
        var builder = new ElfCoreBuilder();
        foreach (var note in reader.Notes)
            builder.AddNote(note.Name, note.Type, note.Descriptor.ToArray());
        foreach (LoadSegment s in reader.Segments)
        {
            byte[] data = elf.AsSpan((int)s.FileOffset, (int)s.FileSize).ToArray();
            ulong segStart = s.Memory.Start.Value, segEnd = s.Memory.End.Value;
            if (start < segStart || start >= segEnd)
            {
                builder.AddLoad(segStart, data, virtualAddress: s.VirtualAddress);
                continue;
            }
            builder.AddLoad(segStart, data[..(int)(start - segStart)], memorySize: start + length - segStart, virtualAddress: s.VirtualAddress);
            ulong rest = start + length;
            builder.AddLoad(rest, data[(int)(rest - segStart)..], virtualAddress: s.VirtualAddress + (rest - segStart));
        }
        return builder.Build();
    }
}
