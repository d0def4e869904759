using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Analysis;
using KdumpSharp.Dumps;
using KdumpSharp.Filtering;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.PageFiltering;

/// <summary>
/// Our page classification of each real vmcore against what Debian's makedumpfile 1.7.2 kept at
/// <c>-c -d 31</c> (vmcore.kdump-zlib: a set 2nd-bitmap bit is kept, zero pages included, since they
/// stay set and share one descriptor) and against the kernel's own free lists. On 6.1 the kept sets
/// must be equal; on 6.12, which 1.7.2 does not know, every difference must have a named cause.
/// The numbers are printed; docs/format.md quotes them.
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed class PageFilteringTests(TestKernel kernel)
{
    private const DumpLevel AllButZero = DumpLevel.All & ~DumpLevel.Zero;

    private TestDumpSet _dumps = null!;
    private KernelDump _elf = null!;
    private IDumpReader _mdf = null!;
    private PageClassifier _classifier = null!;
    private PageClass[] _classes = null!;
    private bool[] _classified = null!;
    private PageClassCounts _counts = null!;
    private long _allocated;
    private TimeSpan _elapsed;

    [OneTimeSetUp]
    public void Classify()
    {
        _dumps = TestDumps.Get(kernel);
        _elf = KernelDump.Open(_dumps.ElfVmcore);
        _mdf = DumpFile.Open(_dumps.KdumpZlib.Path ?? throw new InvalidOperationException("no -c -d 31 dump"));
        Assert.That(_mdf.Properties.DumpLevel, Is.EqualTo(31), "the zlib variant must be makedumpfile's own -d 31, not a fallback");

        ulong frames = _elf.Reader.Memory.EndFrame.Value;
        _classes = new PageClass[frames];
        _classified = new bool[frames];
        _counts = new PageClassCounts();
        _ = _elf.Virtual.TryTranslate(_elf.Vmcoreinfo.RequireSymbol("mem_section"), out _, out _); // warm the page-table walk
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _classifier = PageClassifier.Create(_elf.Virtual, _elf.Vmcoreinfo);
        foreach (PageClassRun run in _classifier.Classify())
        {
            _counts.Add(run);
            for (ulong pfn = run.Start.Value; pfn < run.End.Value; pfn++)
                (_classes[pfn], _classified[pfn]) = (run.Class, true);
        }
        _elapsed = clock.Elapsed;
        _allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TestContext.Progress.WriteLine($"page filtering {kernel}: {_counts} in {_elapsed.TotalMilliseconds:0} ms; {_classifier.Statistics}");
    }

    [OneTimeTearDown]
    public void Close()
    {
        _elf?.Dispose();
        _mdf?.Dispose();
    }

    [Test]
    public void The_rules_come_from_the_kernels_era()
    {
        KernelPageRules r = _classifier.Rules;
        TestContext.Out.WriteLine(r);
        if (kernel == TestKernel.Debian61)
            Assert.That((r.Buddy?.Encoding, r.SlabBit, r.SlabType, r.CompoundOrder, r.Hugetlb),
                Is.EqualTo(((PageTypeEncoding?)PageTypeEncoding.ClearedBit, (int?)9, (PageTypeTest?)null, CompoundOrderSource.SecondPageField, HugetlbSource.Destructor)));
        else
            Assert.That((r.Buddy?.Encoding, r.SlabBit, r.SlabType?.Encoding, r.CompoundOrder, r.Hugetlb),
                Is.EqualTo(((PageTypeEncoding?)PageTypeEncoding.TopByte, (int?)null, (PageTypeEncoding?)PageTypeEncoding.TopByte, CompoundOrderSource.SecondPageFlagsLowByte, HugetlbSource.PageType)));
    }

    /// <summary>The model of 1.7.2's rules must reproduce its file exactly, or it explains nothing.</summary>
    [Test]
    public void The_makedumpfile_172_model_reproduces_its_dump()
    {
        Makedumpfile172Model model = Makedumpfile172Model.Run(_elf.Reader.Memory, _elf.Vmcoreinfo, _classifier.MemMap);
        var wrong = new List<ulong>();
        for (ulong pfn = 0; pfn < (ulong)_classes.Length; pfn++)
        {
            PageState state = _mdf.Memory.GetPageState(new PageFrameNumber(pfn));
            if (state != PageState.NotInDump && (state == PageState.Excluded) != model.Excluded[pfn])
                wrong.Add(pfn);
        }
        Assert.That(wrong, Is.Empty, $"first: {string.Join(", ", wrong.Take(5).Select(Describe))}");
        Dictionary<string, long> log = MakedumpfileCounters();
        Assert.That(model.Counters.GetValueOrDefault(PageClass.Free), Is.EqualTo(log["Free pages"]));
        Assert.That(model.Counters.GetValueOrDefault(PageClass.Cache), Is.EqualTo(log["Non-private cache pages"]));
        Assert.That(model.Counters.GetValueOrDefault(PageClass.CachePrivate), Is.EqualTo(log["Private cache pages"]));
        Assert.That(model.Counters.GetValueOrDefault(PageClass.User), Is.EqualTo(log["User process data pages"]));
    }

    [Test]
    public void Level_31_keeps_what_makedumpfile_keeps_or_says_why_not()
    {
        var causes = new Dictionary<string, List<ulong>>();
        ulong compared = 0;
        for (ulong pfn = 0; pfn < (ulong)_classes.Length; pfn++)
        {
            PageState state = _mdf.Memory.GetPageState(new PageFrameNumber(pfn));
            if (_classified[pfn] && IsPartial(pfn) && state != PageState.Present)
            {
                Note(causes, PartialPage, pfn);
                continue;
            }
            if (state == PageState.NotInDump)
                continue;
            Assert.That(_classified[pfn], Is.True, $"{Describe(pfn)}: makedumpfile has it, we did not classify it");
            compared++;
            bool weKeep = !AllButZero.Excludes(_classes[pfn]);
            if (weKeep != (state == PageState.Present))
                Note(causes, Cause(pfn, weKeep), pfn);
        }

        var report = new StringBuilder($"{kernel}: {compared} pages compared; ours {_counts}\n");
        foreach ((string cause, List<ulong> pfns) in causes)
        {
            report.AppendLine($"  {pfns.Count} pages: {cause}");
            foreach (ulong pfn in pfns.Take(3))
                report.AppendLine($"    {Describe(pfn)}");
        }
        TestContext.Out.WriteLine(report);

        Assert.That(causes.Keys.Where(c => c.StartsWith("UNEXPLAINED", StringComparison.Ordinal)), Is.Empty, report.ToString());
        Assert.That(causes.GetValueOrDefault(PartialPage)?.Count ?? 0, Is.LessThanOrEqualTo(2 * _elf.Reader.Memory.Ranges.Count));
        if (kernel == TestKernel.Debian61)
            Assert.That(causes.Keys.Where(c => c != PartialPage), Is.Empty, "on 6.1 the kept sets are equal");
        else
            Assert.That(causes, Is.Not.Empty, "1.7.2 misreads 6.12 slab pages; if nothing differs, the check is not looking");
    }

    /// <summary>Over the pages makedumpfile has (its 1st bitmap), the all-zero pages we keep at level 30 are the
    /// ones it stored as zero pages, plus on 6.12 those among the slab pages it dropped.</summary>
    [Test]
    public void Zero_pages_among_the_kept_match_makedumpfiles_count()
    {
        byte[] page = new byte[PageFrameNumber.PageSize];
        long zeroKeptByUs = 0, zeroKeptByBoth = 0;
        for (ulong pfn = 0; pfn < (ulong)_classes.Length; pfn++)
        {
            PageState state = _mdf.Memory.GetPageState(new PageFrameNumber(pfn));
            if (state == PageState.NotInDump || IsPartial(pfn) || AllButZero.Excludes(_classes[pfn])
                || _elf.Reader.Memory.ReadPage(new PageFrameNumber(pfn), page) != PageState.Present || !ZeroPage.IsZero(page))
                continue;
            zeroKeptByUs++;
            if (state == PageState.Present)
                zeroKeptByBoth++;
        }
        long logged = MakedumpfileCounters()["Pages filled with zero"];
        TestContext.Out.WriteLine($"{kernel}: all-zero pages among those we keep at level 30: {zeroKeptByUs}; kept by makedumpfile too: {zeroKeptByBoth}; " +
            $"makedumpfile's \"Pages filled with zero\": {logged}");
        Assert.That(zeroKeptByBoth, Is.EqualTo(logged));
        if (kernel == TestKernel.Debian61)
            Assert.That(zeroKeptByUs, Is.EqualTo(logged));
    }

    [Test]
    public void Per_class_counts_match_makedumpfiles_on_61()
    {
        Dictionary<string, long> log = MakedumpfileCounters();
        TestContext.Out.WriteLine($"{kernel}: ours {_counts}; makedumpfile 1.7.2: {string.Join(", ", log.Select(kv => $"{kv.Key} {kv.Value}"))}");
        if (kernel != TestKernel.Debian61)
        {
            Assert.That((long)_counts[PageClass.Free], Is.EqualTo(log["Free pages"]), "6.12 buddy pages match: 1.7.2 compares the whole _mapcount, and 6.12 buddy pages have no owner bits");
            Assert.That((long)_counts[PageClass.User], Is.LessThan(log["User process data pages"]), "1.7.2 counts slab pages as user data on 6.12");
            return;
        }
        Assert.That((long)_counts[PageClass.Free], Is.EqualTo(log["Free pages"]));
        Assert.That((long)_counts[PageClass.Cache], Is.EqualTo(log["Non-private cache pages"]));
        Assert.That((long)_counts[PageClass.CachePrivate], Is.EqualTo(log["Private cache pages"]));
        Assert.That((long)_counts[PageClass.User], Is.EqualTo(log["User process data pages"]));
        Assert.That((long)_counts[PageClass.HwPoison], Is.EqualTo(log["Hwpoison pages"]));
        Assert.That((long)_counts[PageClass.Offline], Is.EqualTo(log["Offline pages"]));
    }

    /// <summary>The kernel's own bookkeeping: every free page we find is on a zone free list, and the lists hold
    /// nothing else; nr_free agrees, and vm_stat[NR_FREE_PAGES] within the per-CPU deltas not yet folded in.</summary>
    [Test]
    public void Free_pages_are_exactly_the_buddy_free_lists()
    {
        IReadOnlyList<ZoneFreeArea> zones = FreeAreas.Read(_elf.Virtual, _elf.Vmcoreinfo);
        var onLists = new bool[_classes.Length];
        ulong listed = 0, nrFree = 0;
        long counter = 0;
        var report = new StringBuilder();
        foreach (ZoneFreeArea zone in zones)
        {
            FreeListWalk walk = FreeAreas.WalkFreeLists(_elf.Virtual, _elf.Vmcoreinfo, _classifier.MemMap, zone, (long)_classes.Length);
            Assert.That(walk.Problems, Is.Empty);
            foreach (FreeBlock block in walk.Blocks)
                for (ulong pfn = block.Start.Value; pfn < block.Start.Value + (1UL << block.Order); pfn++)
                {
                    Assert.That(onLists[pfn], Is.False, $"pfn 0x{pfn:x} is on two free lists");
                    onLists[pfn] = true;
                    listed++;
                }
            nrFree += zone.FreePages;
            counter += zone.FreePagesCounter;
            report.AppendLine($"  node {zone.Node} zone {zone.Zone}: spanned {zone.SpannedPages}, nr_free pages {zone.FreePages} " +
                $"(blocks per order {string.Join(" ", zone.FreeBlocks)}), vm_stat[NR_FREE_PAGES] {zone.FreePagesCounter}, {walk.Blocks.Count} blocks walked");
        }
        TestContext.Out.WriteLine($"{kernel}: ours {_counts[PageClass.Free]} free, free lists {listed}, nr_free {nrFree}, NR_FREE_PAGES {counter}\n{report}");
        for (ulong pfn = 0; pfn < (ulong)_classes.Length; pfn++)
            Assert.That(onLists[pfn], Is.EqualTo(_classes[pfn] == PageClass.Free), () => Describe(pfn));
        Assert.That(nrFree, Is.EqualTo(listed));
        // Each CPU holds at most stat_threshold (at most 125, mm/vmstat.c) unfolded pages per zone counter.
        Assert.That(Math.Abs(counter - (long)nrFree), Is.LessThanOrEqualTo(125L * _dumps.Manifest.Guest.Cpus * zones.Count));
    }

    [Test]
    public void Mem_section_and_vmemmap_place_the_same_struct_pages()
    {
        if (_elf.Vmcoreinfo.Symbol("vmemmap") is null)
        {
            // Debian's 6.1 exports no SYMBOL(vmemmap), so mem_section is the only way to its struct pages.
            Assert.That((kernel, _classifier.MemMap.Source), Is.EqualTo((TestKernel.Debian61, "mem_section")));
            return;
        }
        var vmcoreinfo = Kernel.Vmcoreinfo.Parse(Encoding.ASCII.GetBytes(Regex.Replace(_elf.Vmcoreinfo.Text, @"SYMBOL\(mem_section\)=\w+\n", "")));
        MemMap byVmemmap = MemMap.Open(_elf.Virtual, vmcoreinfo);
        Assert.That(byVmemmap.Source, Is.EqualTo("vmemmap"));
        foreach (MemMapSection s in _classifier.MemMap.Sections)
            Assert.That(byVmemmap.TryGetStructPageAddress(s.Start, out ulong a) ? a : 0, Is.EqualTo(s.MemMapAddress), $"section {s.Number}");
    }

    /// <summary>Bounded work and memory: one mem_map read per block of 512 struct pages and no allocation that grows with the dump.</summary>
    [Test]
    public void Classification_reads_in_blocks_and_allocates_little()
    {
        PageClassifierStatistics s = _classifier.Statistics;
        ulong blocks = (ulong)_classifier.MemMap.Sections.Count * _classifier.MemMap.PagesPerSection / PageClassifier.BatchPages;
        TestContext.Out.WriteLine($"{kernel}: {_classes.Length} frames, {_counts.Total} RAM pages classified in {_elapsed.TotalMilliseconds:0} ms, " +
            $"{s.MemMapReads} mem_map reads of {PageClassifier.BatchPages} struct pages, {_allocated} bytes allocated (classifier, MemMap and the walk)");
        Assert.That(s.MemMapReads, Is.LessThanOrEqualTo(blocks));
        Assert.That(s.MissingStructPages + s.BadBuddyOrders + s.BadCompoundOrders + s.OrphanTails + s.ForeignPagesInCompound, Is.Zero, s.ToString());
        Assert.That(_allocated, Is.LessThan(1 << 20));
    }

    private const string PartialPage = "RAM ends inside this page: /proc/vmcore holds its head, makedumpfile writes none of it " +
        "(its 1st bitmap rounds the range end down, or, in other runs, keeps the bit and clears it in the 2nd)";

    /// <summary>A page only partly inside the dump's RAM ranges (the first range ends at 0x9fc00 on PCs).</summary>
    private bool IsPartial(ulong pfn)
    {
        var page = PhysicalRange.FromLength(pfn << PageFrameNumber.PageShift, PageFrameNumber.PageSize);
        return !_elf.Reader.Memory.Ranges.Any(r => r.Start <= page.Start && page.End <= r.End);
    }

    private string Cause(ulong pfn, bool weKeep)
    {
        StructPage? page = _classifier.MemMap.ReadStructPage(new PageFrameNumber(pfn));
        if (page is not StructPage p)
            return "UNEXPLAINED: struct page unreadable";
        KernelPageRules r = _classifier.Rules;
        StructPage head = p.IsTail && _classifier.MemMap.TryGetFrame(p.HeadAddress, out PageFrameNumber h) && _classifier.MemMap.ReadStructPage(h) is StructPage hp ? hp : p;
        if (weKeep && r.IsSlab(p) && (p.Mapping & 1) != 0)
            return "slab page (page type PGTY_slab) whose page.mapping bit 0 is set: 6.2+ struct slab puts an int there; 1.7.2 has no slab test before its anonymous test and drops it as user data";
        if (!weKeep && p.IsTail && !r.IsSlab(head))
            return $"tail of a {_classes[pfn]} compound page: 1.7.2 reads the order from OFFSET(page.compound_order), which 6.3+ kernels do not export, so it drops the head alone";
        return $"UNEXPLAINED: we {(weKeep ? "keep" : "drop")} a {_classes[pfn]} page makedumpfile {(weKeep ? "drops" : "keeps")}";
    }

    private string Describe(ulong pfn) =>
        $"pfn 0x{pfn:x} ({_classes[pfn]}): {_classifier.MemMap.ReadStructPage(new PageFrameNumber(pfn))?.ToString() ?? "no struct page"}";

    private static void Note(Dictionary<string, List<ulong>> causes, string cause, ulong pfn)
    {
        if (!causes.TryGetValue(cause, out List<ulong>? list))
            causes[cause] = list = [];
        list.Add(pfn);
    }

    /// <summary>The per-class lines makedumpfile printed ("Free pages              : 0x0000000000007d90").</summary>
    private Dictionary<string, long> MakedumpfileCounters()
    {
        var counters = new Dictionary<string, long>();
        foreach (Match m in Regex.Matches(File.ReadAllText(_dumps.KdumpZlib.LogPath), @"^\s*([A-Za-z -]+?)\s*: 0x([0-9a-f]+)$", RegexOptions.Multiline))
            counters[m.Groups[1].Value] = long.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.That(counters.Keys, Is.SupersetOf(new[] { "Pages filled with zero", "Non-private cache pages", "Free pages" }), "makedumpfile's log format changed");
        return counters;
    }
}
