using KdumpSharp.Analysis;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>
/// A dump seen through a dump level: pages the level drops (by their class in mem_map; all-zero
/// pages are left to the writer's content check) read as <see cref="PageState.Excluded"/>. The
/// decision is kept as one bit per page frame (32 MiB per TiB of RAM, what makedumpfile's
/// non-cyclic mode spends), so writers that need random access, like the kdump-compressed one,
/// can ask about any page.
/// </summary>
public sealed class FilteredDump : IDumpReader
{
    private readonly IDumpReader _source;

    private FilteredDump(IDumpReader source, ulong[] excluded, PageClassCounts counts, DumpLevel level)
    {
        _source = source;
        Counts = counts;
        Memory = new FilteredMemory(source.Memory, excluded);
        Properties = source.Properties with { DumpLevel = (int)level };
    }

    /// <summary>Classifies every page of <paramref name="dump"/> and keeps the decision for <paramref name="level"/>.</summary>
    public static FilteredDump Create(KernelDump dump, DumpLevel level)
    {
        ulong frames = dump.Reader.Memory.EndFrame.Value;
        var excluded = new ulong[(frames + 63) / 64];
        var counts = new PageClassCounts();
        if ((level & ~DumpLevel.Zero) != 0)
        {
            foreach (PageClassRun run in PageClassifier.Create(dump.Virtual, dump.Vmcoreinfo, dump.Limits).Classify())
            {
                counts.Add(run);
                if (!level.Excludes(run.Class))
                    continue;
                for (ulong pfn = run.Start.Value; pfn < run.End.Value && pfn < frames; pfn++)
                    excluded[pfn >> 6] |= 1UL << (int)(pfn & 63);
            }
        }
        return new FilteredDump(dump.Reader, excluded, counts, level);
    }

    /// <summary>Pages per class, as the classifier found them.</summary>
    public PageClassCounts Counts { get; }

    public string Name => _source.Name;
    public DumpProperties Properties { get; }
    public IReadOnlyList<ElfNote> Notes => _source.Notes;
    public Vmcoreinfo? Vmcoreinfo => _source.Vmcoreinfo;
    public PhysicalMemory Memory { get; }

    /// <summary>The source stays owned by whoever opened it.</summary>
    public void Dispose()
    {
    }

    private sealed class FilteredMemory(PhysicalMemory source, ulong[] excluded) : PhysicalMemory
    {
        public override IReadOnlyList<PhysicalRange> Ranges => source.Ranges;

        public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination) =>
            IsExcluded(frame) ? PageState.Excluded : source.ReadPage(frame, destination);

        public override PageState GetPageState(PageFrameNumber frame) =>
            IsExcluded(frame) ? PageState.Excluded : source.GetPageState(frame);

        private bool IsExcluded(PageFrameNumber frame) =>
            frame.Value >> 6 < (ulong)excluded.Length && (excluded[frame.Value >> 6] & (1UL << (int)(frame.Value & 63))) != 0;
    }
}
