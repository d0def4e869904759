using System.Buffers.Binary;
using KdumpSharp.Compression;
using KdumpSharp.Dumps.Elf;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Tests.Builders;
using KdumpSharp.Tests.Dumps.Native;

namespace KdumpSharp.Tests.Fuzzing;

/// <summary>
/// Thousands of damaged dumps per run: each must open and read without an unhandled exception,
/// within a time bound, and with bounded allocation. Failures name seed, mutation and case number
/// so a case can be replayed.
/// </summary>
public class ReaderFuzzTests
{
    private const int CasesPerMutation = 300;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private const long MaxAllocationPerCase = 256L << 20;

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (FuzzSeed seed in FuzzSeeds.All())
            foreach (Mutation mutation in Enum.GetValues<Mutation>())
                yield return new TestCaseData(seed, mutation).SetName($"Fuzz {seed.Name} {mutation}");
    }

    private static IEnumerable<FuzzSeed> SeedsWithLog() => FuzzSeeds.All().Where(s => s.HasKernelLog);

    [TestCaseSource(nameof(SeedsWithLog))]
    public void Seeds_read_their_log_through_the_page_tables(FuzzSeed seed)
    {
        using var dump = new KdumpSharp.Analysis.KernelDump(KdumpSharp.Dumps.DumpFile.Open(new MemorySource(seed.Name, seed.File)));
        Assert.That(DmesgFormatterText(dump), Does.Contain("wrapped block text!!"));
    }

    private static string DmesgFormatterText(KdumpSharp.Analysis.KernelDump dump) =>
        KdumpSharp.Kernel.Printk.DmesgFormatter.Format(dump.Log.Records);

    [TestCaseSource(nameof(Cases))]
    public void Damaged_dumps_fail_only_with_typed_errors(FuzzSeed seed, Mutation mutation)
    {
        Assert.That(DumpExercise.Run(seed.File, seed.VirtualProbes), Is.Null, "the undamaged seed must read cleanly");
        var random = FuzzRandom.For(seed.Name, (int)mutation);
        int typedFailures = 0;
        for (int i = 0; i < CasesPerMutation; i++)
        {
            byte[] damaged = Mutator.Apply(seed, mutation, random);
            Exception? unexpected = null;
            Exception? typed = null;
            var task = Task.Run(() =>
            {
                long start = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    typed = DumpExercise.Run(damaged, seed.VirtualProbes);
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
                return GC.GetAllocatedBytesForCurrentThread() - start;
            });
            Assert.That(task.Wait(CaseTimeout), Is.True, $"{FuzzRandom.Case(seed.Name, mutation, i)}: no answer within {CaseTimeout.TotalSeconds} s (hang)");
            Assert.That(unexpected, Is.Null, $"{FuzzRandom.Case(seed.Name, mutation, i)}: unhandled {unexpected?.GetType().Name}: {unexpected}");
            Assert.That(task.Result, Is.LessThan(MaxAllocationPerCase), $"{FuzzRandom.Case(seed.Name, mutation, i)}: allocated {task.Result >> 20} MiB");
            if (typed is not null)
            {
                typedFailures++;
                Assert.That(typed.Message, Does.Not.Match(@"\p{Cc}"), $"{FuzzRandom.Case(seed.Name, mutation, i)}: errors are one line, with no control characters");
            }
        }
        TestContext.Out.WriteLine($"{seed.Name} {mutation}: {CasesPerMutation} cases, {typedFailures} rejected with a typed error, the rest read");
        // A native file cut anywhere opens by design; only a log read through lost pages notices the cut.
        if (mutation == Mutation.Truncate && seed.HasKernelLog)
            Assert.That(typedFailures + CasesPerMutation, Is.GreaterThan(CasesPerMutation), "truncation never detected: the check cannot be working");
    }
}

/// <summary>Valid seed dumps with the regions worth damaging.</summary>
public static class FuzzSeeds
{
    internal static IEnumerable<FuzzSeed> All()
    {
        FuzzSeed elf = ElfSeed();
        yield return elf;
        FuzzSeed kdump = KdumpSeed(elf);
        yield return kdump;
        yield return FlattenedSeed(kdump);
        yield return NativeSeed(elf);
        yield return NativeCopiesSeed();
    }

    /// <summary>
    /// The ELF seed in KdumpSharp's own format, 16-page LZ4 chunks: header and metadata sections, the
    /// chunks holding the page tables, the index and trailer at the end. A cut here mostly still
    /// opens (incomplete), so truncation is detected by pages reading as lost, not by an error.
    /// </summary>
    private static FuzzSeed NativeSeed(FuzzSeed elf)
    {
        using var reader = new ElfVmcoreReader(new MemorySource("seed", elf.File));
        using var output = new MemoryStream();
        NativeDumpWriter.Write(reader, output, new NativeDumpWriterOptions { Parallelism = 1 });
        byte[] file = output.ToArray();
        // Records start at 64; the first three are the Ranges, Notes and Capture sections (docs/format.md §1).
        int metadataEnd = 64;
        for (int i = 0; i < 3; i++)
            metadataEnd = (metadataEnd + 40 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(metadataEnd + 8)) + 7) / 8 * 8;
        int tail = Math.Min(file.Length, 8192);
        return new FuzzSeed("native", file,
            [(0, 64), (64, metadataEnd - 64), (metadataEnd, Math.Min(65536, file.Length - metadataEnd)), (file.Length - tail, tail), (0, file.Length)],
            elf.VirtualProbes);
    }

    /// <summary>
    /// A native dump whose pages repeat (NativeTestSupport.RepeatingSource), in 4-page chunks, so chunks
    /// carry copy tables and copies point into earlier chunks; the regions are its first chunks and the whole file.
    /// No VMCOREINFO: its pages hold no kernel to read a log from.
    /// </summary>
    private static FuzzSeed NativeCopiesSeed()
    {
        using FakeDumpReader source = NativeTestSupport.RepeatingSource(out _, out long copies, [FakeDumpReader.PrStatusNote(1)]);
        using var output = new MemoryStream();
        NativeWriteResult written = NativeDumpWriter.Write(source, output, new NativeDumpWriterOptions { Parallelism = 1, ChunkPages = 4, AllowCopies = true });
        if (written.Pages.Copies != copies)
            throw new InvalidOperationException($"the copies seed has {written.Pages.Copies} copies, not {copies}");
        byte[] file = output.ToArray();
        return new FuzzSeed("native copies", file, [(64, Math.Min(32768, file.Length - 64)), (0, file.Length)], [], HasKernelLog: false);
    }

    /// <summary>The ELF seed rewritten by our kdump writer: header, sub header and notes, both bitmaps, descriptors.</summary>
    private static FuzzSeed KdumpSeed(FuzzSeed elf)
    {
        using var reader = new ElfVmcoreReader(new MemorySource("seed", elf.File));
        using var output = new MemoryStream();
        KdumpCompressedWriter.Write(reader, output, new KdumpWriterOptions { Compression = PageCompression.Zlib, DumpLevel = 1 });
        byte[] file = output.ToArray();
        int block = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(428));      // disk_dump_header.block_size
        int subHeader = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(432));  // sub_hdr_size (blocks)
        int bitmaps = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(436));    // bitmap_blocks (both)
        int bitmapStart = (1 + subHeader) * block;
        int descriptors = bitmapStart + bitmaps * block;
        return new FuzzSeed("kdump", file,
            [(0, 464), (block, subHeader * block), (bitmapStart, bitmaps * block), (descriptors, 2048 * 24), (0, file.Length)],
            elf.VirtualProbes);
    }

    /// <summary>The kdump seed as makedumpfile -F would stream it: out-of-order records of assorted sizes.</summary>
    private static FuzzSeed FlattenedSeed(FuzzSeed kdump)
    {
        byte[] file = new FlattenedStreamBuilder().AddChunks(kdump.File, [4096, 512, 65536, 8192, 100_000], chunks => chunks.AsEnumerable().Reverse()).End().ToArray();
        return new FuzzSeed("flattened", file, [(0, 4096), (4096, 16 * 4096), (file.Length - 4096, 4096), (0, file.Length)], kdump.VirtualProbes);
    }

    /// <summary>
    /// An 8 MiB machine plus a printk ring: the ring is built in <see cref="KernelMemoryBuilder"/>'s
    /// window (physical 16 MiB, seen through a direct map at 0xffff888000000000), so the fixture's page
    /// tables map it and the whole read path (tables, ring, panic search) is fuzzed.
    /// </summary>
    private static FuzzSeed ElfSeed()
    {
        var machine = new KernelImageFixture(small: true, directMapBase: 0xffff888000000000);
        (KernelMemoryBuilder log, _) = Kernel.Printk.PrintkScenarios.WrappedRing();
        byte[] ringBytes = log.Snapshot();
        byte[] file = new ElfCoreBuilder()
            .AddPrStatus(1, 0xffffffff81234567, 0xffffc90000004000)
            .AddVmcoreinfo(machine.Vmcoreinfo + log.Vmcoreinfo.Text)
            .AddLoad(0, machine.Ram, virtualAddress: machine.DirectMapBase)
            .AddLoad(KernelMemoryBuilder.PhysicalBase, ringBytes, virtualAddress: KernelMemoryBuilder.VirtualBase)
            .Build();
        using var reader = new ElfVmcoreReader(new MemorySource("seed", file));
        LoadSegment ram = reader.Segments[0], ring = reader.Segments[1];
        // Page tables sit 3 MiB into the image.
        int tables = (int)(ram.FileOffset + (long)(machine.ImagePhysical + 0x300000));
        return new FuzzSeed("ELF", file, [(0, (int)ram.FileOffset), (tables, 6 * 4096), ((int)ring.FileOffset, ringBytes.Length), (0, file.Length)],
            [machine.ImageVirtual + 0x10, machine.DirectMapBase + 0x5000, KernelImageFixture.VmallocPage]);
    }
}
