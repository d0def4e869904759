using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Filtering;

/// <summary>
/// Struct pages, section tables and VMCOREINFO values at random: classification either fails with a
/// typed error naming the problem, or covers every RAM page exactly once, with bounded reads, time and
/// allocation. Each failure names the style and case, so it can be replayed.
/// </summary>
[TestFixture(KernelStyle.Linux61)]
[TestFixture(KernelStyle.Linux612)]
public sealed class PageClassifierFuzzTests(KernelStyle style)
{
    private const int Cases = 150;
    private const ulong Pages = 4096;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private const long MaxAllocationPerCase = 32L << 20;

    private static readonly uint[] MapCounts =
    [
        uint.MaxValue, 0, 1, unchecked((uint)~0x80), unchecked((uint)~0x100), 0xf000_0000, 0xf100_0000, 0xf400_0000, 0xf500_0000,
        0xf500_1234, 0x8000_0000, 0x7fff_ffff, unchecked((uint)-128),
    ];

    private static readonly string[] Keys =
    [
        "NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_head_mask)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "NUMBER(SECTION_SIZE_BITS)",
        "NUMBER(MAX_PHYSMEM_BITS)", "SIZE(page)", "OFFSET(page.private)", "OFFSET(page.compound_head)", "LENGTH(mem_section)",
        "SIZE(mem_section)", "LENGTH(zone.free_area)", "OFFSET(page.compound_order)", "NUMBER(PG_hwpoison)",
    ];

    [Test]
    public void Random_struct_pages_classify_every_page_or_fail_typed()
    {
        var random = Fuzzing.FuzzRandom.For("page-classifier", style == KernelStyle.Linux61 ? 61 : 612);
        int typed = 0;
        for (int i = 0; i < Cases; i++)
        {
            MemMapBuilder m = Damaged(random, i);
            Exception? unexpected = null, expected = null;
            PageClassCounts? counts = null;
            PageClassifierStatistics? stats = null;
            var task = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    PageClassifier classifier = PageClassifier.Create(m.Virtual, m.Vmcoreinfo.Build(), DumpLimits.Default);
                    counts = classifier.Count();
                    stats = classifier.Statistics;
                    // A window anywhere must agree with the whole walk's page count for it.
                    ulong start = (ulong)random.Next((int)Pages);
                    ulong windowPages = classifier.Classify(new(start), new(start + 700)).Aggregate(0UL, (n, r) => n + r.Count);
                    if (windowPages != Math.Min(700, Pages - start))
                        throw new InvalidOperationException($"window at 0x{start:x} covered {windowPages} pages");
                    CompareWholeFreeBlocks(m);
                    ComparePlainPageShortcut(m);
                }
                catch (KernelDataException e)
                {
                    expected = e;
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
                return GC.GetAllocatedBytesForCurrentThread() - before;
            });
            Assert.That(task.Wait(CaseTimeout), Is.True, $"{style} case {i}: no answer within {CaseTimeout.TotalSeconds} s");
            Assert.That(unexpected, Is.Null, $"{style} case {i}: unhandled {unexpected}");
            Assert.That(task.Result, Is.LessThan(MaxAllocationPerCase), $"{style} case {i}: allocated {task.Result >> 20} MiB");
            if (expected is not null)
            {
                typed++;
                Assert.That(expected.Message, Does.Not.Contain("\n"));
                continue;
            }
            Assert.That(counts!.Total, Is.EqualTo(Pages), $"{style} case {i}: every RAM page has one class");
            Assert.That(counts[PageClass.Zero], Is.Zero, "zero is the writer's test");
            // Bounded work: one block read per 512 pages of the two passes' look-back, plus at most one head lookup per page.
            Assert.That(stats!.MemMapReads, Is.LessThanOrEqualTo(2 * (Pages / PageClassifier.BatchPages + 4) + 2 * Pages), $"{style} case {i}");
        }
        TestContext.Out.WriteLine($"{style}: {Cases} cases, {typed} rejected with KernelDataException, the rest classified");
        Assert.That(typed, Is.LessThan(Cases), "some cases must get through to the classifier");
    }

    /// <summary>Taking free blocks whole changes one thing only: a poisoned page inside a free block is free.</summary>
    private static void CompareWholeFreeBlocks(MemMapBuilder m)
    {
        PageClass[] each = Expand(PageClassifier.Create(m.Virtual, m.Vmcoreinfo.Build(), DumpLimits.Default).Classify());
        PageClass[] whole = Expand(PageClassifier.Create(m.Virtual, m.Vmcoreinfo.Build(), DumpLimits.Default, wholeFreeBlocks: true).Classify());
        for (int pfn = 0; pfn < each.Length; pfn++)
        {
            if (each[pfn] != whole[pfn] && !(each[pfn] == PageClass.HwPoison && whole[pfn] == PageClass.Free))
                throw new InvalidOperationException($"pfn 0x{pfn:x}: {each[pfn]} page by page, {whole[pfn]} with whole free blocks");
        }
    }

    /// <summary>The shortcut for ordinary pages gives the full rules' answer for every page.</summary>
    private static void ComparePlainPageShortcut(MemMapBuilder m)
    {
        PageClass[] shortcut = Expand(PageClassifier.Create(m.Virtual, m.Vmcoreinfo.Build(), DumpLimits.Default).Classify());
        MemMap memMap = MemMap.Open(m.Virtual, m.Vmcoreinfo.Build(), DumpLimits.Default);
        var full = new PageClassifier(memMap, KernelPageRules.FromVmcoreinfo(m.Vmcoreinfo.Build(), memMap.Layout), m.Virtual.Physical) { PlainPageShortcut = false };
        PageClass[] rules = Expand(full.Classify());
        for (int pfn = 0; pfn < shortcut.Length; pfn++)
        {
            if (shortcut[pfn] != rules[pfn])
                throw new InvalidOperationException($"pfn 0x{pfn:x}: {shortcut[pfn]} with the shortcut, {rules[pfn]} by the full rules");
        }
    }

    private static PageClass[] Expand(IEnumerable<PageClassRun> runs)
    {
        var classes = new PageClass[Pages];
        foreach (PageClassRun run in runs)
        {
            for (ulong pfn = run.Start.Value; pfn < run.End.Value; pfn++)
                classes[pfn] = run.Class;
        }
        return classes;
    }

    private MemMapBuilder Damaged(Random random, int caseNumber)
    {
        var m = new MemMapBuilder(style, Pages);
        ulong head = m.HeadFlag;
        for (ulong pfn = m.FirstFreePfn; pfn < Pages; pfn++)
        {
            switch (random.Next(8))
            {
                case 0:
                    m.Buddy(pfn, random.Next(-2, 14));
                    break;
                case 1:
                    // A head, a tail pointing anywhere (often at a real struct page), or a real compound page.
                    ulong target = random.Next(2) == 0 ? m.StructPageAddress((ulong)random.Next((int)Pages)) : (ulong)random.NextInt64();
                    m.SetPage(pfn, flags: head, compoundHead: random.Next(3) == 0 ? target | 1 : 0, mapping: (ulong)random.Next(4));
                    break;
                case 2 when pfn + 64 < Pages:
                    int order = random.Next(7);
                    if ((pfn & ((1UL << order) - 1)) == 0)
                        m.Compound(pfn, order, headFlags: (ulong)random.NextInt64(), mapping: (ulong)random.NextInt64(), hugetlb: random.Next(2) == 0);
                    break;
                case 3:
                    m.SetPage(pfn, flags: (ulong)random.NextInt64(), mapping: (ulong)random.NextInt64(), mapCount: (int)MapCounts[random.Next(MapCounts.Length)],
                        privateData: (ulong)random.Next(70), compoundHead: (ulong)random.NextInt64());
                    break;
                case 4:
                    byte[] noise = new byte[MemMapBuilder.PageStructSize];
                    random.NextBytes(noise);
                    m.Physical.Write(m.StructPagePhysical(pfn), noise);
                    break;
            }
        }
        if (caseNumber % 5 == 1)
        {
            // A damaged section table: a section at a random address, or with random flags.
            ulong section = (ulong)random.Next(4);
            m.SetSectionMemMap(section, random.Next(2) == 0 ? (ulong)random.NextInt64() : m.StructPageAddress(section * 1024) + (ulong)random.Next(64),
                (ulong)random.Next(32));
        }
        if (caseNumber % 3 == 2)
        {
            string key = Keys[random.Next(Keys.Length)];
            long value = random.Next(4) switch
            {
                0 => random.Next(-2, 80),
                1 => random.NextInt64(),
                2 => -random.NextInt64(),
                _ => BinaryPrimitives.ReverseEndianness((long)random.Next()),
            };
            m.Vmcoreinfo.Set(key, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return m;
    }
}
