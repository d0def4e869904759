using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kexec;

public class ClassicImageBuilderTests
{
    private static BzImage Kernel(string package = "linux-image-6.1.0-56-amd64") => BzImage.Parse("vmlinuz", File.ReadAllBytes(KexecTestKernels.Path(package)));

    private static byte[] Initrd(int length)
    {
        byte[] b = new byte[length];
        new Random(1).NextBytes(b);
        return b;
    }

    private static byte[] RunningBootParams()
    {
        byte[] p = new byte[4096];
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(0x70), 0xf5a40);
        p[0x0F] = 1; // orig_video_isVGA: VGA text
        return p;
    }

    private static CrashLoadContext Crash(TempDirectory dir)
    {
        var system = new RunningSystem(dir.Path);
        Iomem iomem = system.ReadIomem();
        var dump = new CrashDumpDescription(system.ReadCrashNotes(), system.ReadVmcoreinfo(), system.ReadKernelTextMapping(iomem),
            SampleSystem.DirectMapBase, CrashDumpDescription.DumpRangesOf(iomem, RunningSystem.CrashRegions(iomem)));
        return new CrashLoadContext(iomem, dump);
    }

    /// <summary>The rules kernel/kexec_core.c sanity_check_segment_list enforces, asserted independently of KexecImageRules.</summary>
    private static void AssertKernelAccepts(KexecImage image)
    {
        Assert.That(image.Segments, Has.Count.InRange(1, 16));
        foreach (KexecSegment s in image.Segments)
        {
            Assert.That(s.Destination.Value % 4096, Is.Zero, $"{s.Destination} aligned");
            Assert.That(s.MemorySize % 4096, Is.Zero, $"{s.Destination} memsz aligned");
            Assert.That((ulong)s.Buffer.Length, Is.LessThanOrEqualTo(s.MemorySize));
            foreach (KexecSegment t in image.Segments.Where(t => !ReferenceEquals(s, t)))
                Assert.That(s.Destination >= t.End || t.Destination >= s.End, Is.True, $"{s.Destination} overlaps {t.Destination}");
        }
        Assert.That(image.Segments.Count(s => image.Entry >= s.Destination.Value && image.Entry < s.End.Value), Is.EqualTo(1));
    }

    [TestCaseSource(typeof(KexecTestKernels), nameof(KexecTestKernels.All))]
    public void Normal_load_places_every_part_in_ram_as_the_boot_protocol_wants(string package)
    {
        using TempDirectory dir = SampleSystem.Create();
        E820Map map = new RunningSystem(dir.Path).ReadNormalMemoryMap();
        BzImage kernel = Kernel(package);
        byte[] initrd = Initrd(3 << 20 | 123);
        ClassicImage built = ClassicImageBuilder.BuildNormal(kernel, initrd, "console=ttyS0 quiet", map, RunningBootParams());

        AssertKernelAccepts(built.Image);
        Assert.That(built.Segments.Select(s => s.Name), Is.EqualTo(new[] { "kernel", "initrd", "boot_params", "purgatory" }));
        foreach (VerifiedSegment s in built.Segments)
            Assert.That(map.Entries.Any(e => e.Type == E820Type.Ram && e.Range.Start <= s.Segment.Destination && s.Segment.End <= e.Range.End), Is.True, $"{s.Name} in RAM");

        KexecSegment k = built.Segments[0].Segment;
        Assert.That(k.Destination.Value % 0x200000, Is.Zero, "kernel_alignment");
        Assert.That(k.Destination.Value, Is.GreaterThanOrEqualTo(0x1000000UL), "pref_address");
        Assert.That(k.MemorySize, Is.EqualTo(kernel.KernelMemorySize));
        Assert.That(k.Buffer.Span.SequenceEqual(kernel.Kernel.Span), Is.True);
        Assert.That(k.Destination.Value, Is.GreaterThanOrEqualTo(0x100000000UL), "top-down: the highest RAM range");

        KexecSegment i = built.Segments[1].Segment;
        Assert.That(i.MemorySize, Is.EqualTo((ulong)(3 << 20) + 4096));
        byte[] p = built.Segments[2].Segment.Buffer.ToArray();
        ulong paramsAddress = built.Segments[2].Segment.Destination.Value;
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(0x218)) | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(0xC0)) << 32, Is.EqualTo(i.Destination.Value));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(0x21C)), Is.EqualTo((uint)initrd.Length), "ramdisk_size is the real length, not memsz");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(0x228)) | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(0xC8)) << 32, Is.EqualTo(paramsAddress + 0x1000));
        Assert.That(Encoding.ASCII.GetString(p, 0x1000, p.Length - 0x1001), Is.EqualTo("console=ttyS0 quiet"));
        Assert.That(p[0x1E8], Is.EqualTo(map.Entries.Count));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(p.AsSpan(0x70)), Is.EqualTo(0xf5a40));

        KexecSegment purgatory = built.Segments[3].Segment;
        byte[] code = purgatory.Buffer.ToArray();
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(Purgatory.BootParamsPointerOffset)), Is.EqualTo(paramsAddress));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(Purgatory.KernelEntryOffset)), Is.EqualTo(k.Destination.Value + 0x200));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(Purgatory.SegmentCountOffset)), Is.EqualTo(3), "every segment but the purgatory is verified");
        for (int n = 0; n < 3; n++)
        {
            KexecSegment s = built.Segments[n].Segment;
            int e = Purgatory.TableOffset + n * Purgatory.TableEntrySize;
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(e)), Is.EqualTo(s.Destination.Value));
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(e + 16)), Is.EqualTo(PurgatoryChecksum.Compute(s.Buffer.Span, s.MemorySize)));
        }
        Assert.That(built.Image.Entry, Is.EqualTo(purgatory.Destination.Value + (ulong)Purgatory.CodeOffset(3)));
    }

    [Test]
    public void Crash_load_stays_in_the_crash_region_and_keeps_its_start_free()
    {
        using TempDirectory dir = SampleSystem.Create(cpus: 4);
        CrashLoadContext crash = Crash(dir);
        PhysicalRange region = crash.Regions[^1];
        BzImage kernel = Kernel();
        byte[] initrd = Initrd(20 << 20);
        ClassicImage built = ClassicImageBuilder.BuildCrash(kernel, initrd, "console=ttyS0 irqpoll nr_cpus=1 reset_devices", crash, RunningBootParams());

        AssertKernelAccepts(built.Image);
        Assert.That(built.Segments.Select(s => s.Name), Is.EqualTo(new[] { "kernel", "initrd", "elfcorehdr", "boot_params", "purgatory" }));
        foreach (KexecSegment s in built.Image.Segments)
            Assert.That(s.Destination >= region.Start && s.End <= region.End, Is.True, $"{s.Destination} inside {region}");
        Assert.That(built.Image.Entry, Is.InRange(region.Start.Value, region.End.Value - 1), "entry inside crashk_res");
        ulong lowest = built.Image.Segments.Min(s => s.Destination.Value);
        Assert.That(lowest - region.Start.Value, Is.GreaterThanOrEqualTo(ClassicImageBuilder.CrashControlReserve(6UL << 30)), "room for control pages at the region start");

        KexecSegment header = built.Segments[2].Segment;
        Assert.That(header.MemorySize, Is.GreaterThanOrEqualTo(16UL << 10));
        Assert.That(built.CommandLine, Is.EqualTo($"console=ttyS0 irqpoll nr_cpus=1 reset_devices elfcorehdr={header.Destination.Value >> 10}K"));
        var headerRange = new PhysicalRange(header.Destination, header.End);
        Assert.That(built.MemoryMap.Entries.Where(e => e.Type == E820Type.Ram).Any(e => e.Range.Overlaps(headerRange)), Is.False, "elfcorehdr is not RAM for the crash kernel");
        Assert.That(built.MemoryMap.Entries.Where(e => e.Type == E820Type.Ram).Sum(e => (long)e.Range.Length),
            Is.EqualTo((long)(0x9ec00 + region.Length - header.MemorySize)));

        byte[] p = built.Segments[3].Segment.Buffer.ToArray();
        Assert.That(p[0x1E8], Is.EqualTo(built.MemoryMap.Entries.Count));
        for (int n = 0; n < built.MemoryMap.Entries.Count; n++)
            Assert.That(E820Entry.Read(p.AsSpan(0x2D0 + n * 20)), Is.EqualTo(built.MemoryMap.Entries[n]), $"e820_table[{n}]");
        Assert.That(Encoding.ASCII.GetString(p, 0x1000, p.Length - 0x1001), Is.EqualTo(built.CommandLine));

        ulong used = region.End.Value - lowest;
        ulong estimate = ClassicImageBuilder.EstimateCrashLoad(kernel, initrd.Length, 4, crash.Dump.DumpRanges.Count, 6UL << 30);
        Assert.That(estimate, Is.GreaterThanOrEqualTo(used), "crash estimate covers what the load takes");
        TestContext.Out.WriteLine($"crash load uses 0x{used:x} bytes of the region, estimate 0x{estimate:x}");
    }

    [Test]
    public void The_running_system_front_door_reads_every_input_itself()
    {
        using TempDirectory dir = SampleSystem.Create(cpus: 2);
        var system = new RunningSystem(dir.Path);
        ClassicImage crash = ClassicImageBuilder.BuildCrash(system, Kernel(), Initrd(1 << 20), "console=ttyS0");
        ClassicImage normal = ClassicImageBuilder.BuildNormal(system, Kernel(), Initrd(1 << 20), "console=ttyS0");
        byte[] header = crash.Segments[2].Segment.Buffer.ToArray();
        Assert.That(BitConverter.ToUInt16(header, 56), Is.EqualTo(2 + 1 + 1 + 3), "e_phnum: 2 CPUs, VMCOREINFO, text, 3 RAM ranges");
        Assert.That(BitConverter.ToUInt64(header, 64 + 4 * 56 + 16), Is.EqualTo(SampleSystem.DirectMapBase + 0x100000), "direct map from kcore");
        foreach (ClassicImage image in new[] { crash, normal })
            Assert.That(BitConverter.ToUInt64(image.Segments[^2].Segment.Buffer.ToArray(), 0x70), Is.EqualTo(0xf5a40), "acpi_rsdp_addr from boot_params/data");
        Assert.That(normal.MemoryMap.Entries, Has.Count.EqualTo(SampleSystem.Memmap.Length));
    }

    [Test]
    public void A_crash_region_too_small_for_the_initrd_is_a_typed_error_with_a_hint()
    {
        using TempDirectory dir = SampleSystem.Create();
        CrashLoadContext crash = Crash(dir);
        var e = Assert.Throws<KexecFailureException>(() => ClassicImageBuilder.BuildCrash(Kernel(), Initrd(200 << 20), "", crash, []));
        Assert.That(e!.Kind, Is.EqualTo(KexecFailureKind.RegionTooSmall));
        Assert.That(e.Message, Does.StartWith("no room for the initrd").And.Contain("crash region"));
        Assert.That(e.Hint, Does.Contain("crashkernel="));
    }

    [Test]
    public void Without_a_crash_region_the_hint_names_crashkernel()
    {
        using TempDirectory dir = SampleSystem.Create();
        SampleSystem.Write(dir, "proc/iomem", SampleSystem.Iomem.Replace("  6f000000-7effffff : Crash kernel\n", ""));
        var e = Assert.Throws<KexecFailureException>(() => ClassicImageBuilder.BuildCrash(Kernel(), default, "", Crash(dir), []));
        Assert.That(e!.Kind, Is.EqualTo(KexecFailureKind.NoReservation));
        Assert.That(e.Message, Does.Contain("no \"Crash kernel\" region"));
    }

    [Test]
    public void The_test_hook_corrupts_only_the_chosen_expected_checksum()
    {
        using TempDirectory dir = SampleSystem.Create();
        E820Map map = new RunningSystem(dir.Path).ReadNormalMemoryMap();
        ClassicImage good = ClassicImageBuilder.BuildNormal(Kernel(), Initrd(4096), "", map, []);
        ClassicImage bad = ClassicImageBuilder.BuildNormal(Kernel(), Initrd(4096), "", map, [], wrongChecksumFor: 1);
        byte[] a = good.Segments[^1].Segment.Buffer.ToArray(), b = bad.Segments[^1].Segment.Buffer.ToArray();
        int[] differing = Enumerable.Range(0, a.Length).Where(n => a[n] != b[n]).ToArray();
        Assert.That(differing, Is.EqualTo(new[] { Purgatory.TableOffset + Purgatory.TableEntrySize + Purgatory.EntryExpectedOffset }));
    }
}
