using KdumpSharp.Capture;
using KdumpSharp.Dumps;
using KdumpSharp.Filtering;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Capture;

/// <summary>
/// The capture's plan: every RAM page in exactly one step, excluded classes dropped a run at a time,
/// kept pages read in batches aligned to 256 pfns whatever their classes, each kept page's bulk bit
/// saying whether it is user, cache or free memory (compressed for speed).
/// </summary>
public class CapturePlanTests
{
    private static readonly PhysicalRange[] Ram = [PhysicalRange.FromLength(0x100000, 0x200000), PhysicalRange.FromLength(0x400000, 0x10000)]; // pfns [0x100, 0x300), [0x400, 0x410)

    private static IEnumerator<PageClassRun> Runs(params (ulong Start, ulong Count, PageClass Class)[] runs) =>
        runs.Select(r => new PageClassRun(new PageFrameNumber(r.Start), r.Count, r.Class)).GetEnumerator();

    [Test]
    public void Kept_pages_of_every_class_share_aligned_batches_with_their_bulk_bits()
    {
        List<CaptureRunner.CaptureStep> steps = CaptureRunner.Plan(Ram,
            Runs((0x100, 0x10, PageClass.Kept), (0x110, 0x20, PageClass.User), (0x130, 0x1, PageClass.Kept), (0x131, 0x4f, PageClass.Free),
                 (0x180, 0x100, PageClass.Cache), (0x400, 0x8, PageClass.CachePrivate)),
            DumpLevel.Zero).ToList();

        Assert.That(steps.Select(s => (s.First, s.Count, s.Exclusion)), Is.EqualTo(new (ulong, ulong, ExclusionReason?)[]
        {
            (0x100, 0x100, null), (0x200, 0x100, null), (0x400, 0x10, null),
        }));
        Assert.That(BulkPfns(steps), Is.EqualTo(Range(0x110, 0x20).Concat(Range(0x131, 0x4f)).Concat(Range(0x180, 0x100)).Concat(Range(0x400, 0x8))));
    }

    [Test]
    public void Excluded_runs_cut_batches_and_only_kept_pages_carry_bulk_bits()
    {
        List<CaptureRunner.CaptureStep> steps = CaptureRunner.Plan(Ram,
            Runs((0x100, 0x10, PageClass.User), (0x110, 0x20, PageClass.Free), (0x130, 0x1, PageClass.Kept), (0x200, 0x40, PageClass.Cache)),
            DumpLevel.Zero | DumpLevel.Free).ToList();

        Assert.That(steps.Select(s => (s.First, s.Count, s.Exclusion)), Is.EqualTo(new (ulong, ulong, ExclusionReason?)[]
        {
            (0x100, 0x10, null), (0x110, 0x20, ExclusionReason.Free), (0x130, 0xd0, null), (0x200, 0x100, null), (0x400, 0x10, null),
        }));
        Assert.That(BulkPfns(steps), Is.EqualTo(Range(0x100, 0x10).Concat(Range(0x200, 0x40))));
    }

    [Test]
    public void Without_classes_every_page_is_read_as_kernel_memory()
    {
        List<CaptureRunner.CaptureStep> steps = CaptureRunner.Plan(Ram, null, DumpLevel.Zero).ToList();

        Assert.That(steps.Select(s => (s.First, s.Count)), Is.EqualTo(new (ulong, ulong)[] { (0x100, 0x100), (0x200, 0x100), (0x400, 0x10) }));
        Assert.That(BulkPfns(steps), Is.Empty);
    }

    [Test]
    public void A_classifier_that_fails_part_way_leaves_the_rest_kept_whole_and_says_where()
    {
        var log = new CaptureLog(null);
        IEnumerator<PageClassRun> runs = CaptureRunner.UntilFailure(FailingAfterTwoRuns(), log);

        List<CaptureRunner.CaptureStep> steps = CaptureRunner.Plan(Ram, runs, DumpLevel.Zero | DumpLevel.Free | DumpLevel.User).ToList();

        Assert.That(steps.Select(s => (s.First, s.Count, s.Exclusion)), Is.EqualTo(new (ulong, ulong, ExclusionReason?)[]
        {
            (0x100, 0x10, ExclusionReason.Free), (0x110, 0x10, ExclusionReason.User), (0x120, 0xe0, null), (0x200, 0x100, null), (0x400, 0x10, null),
        }));
        Assert.That(log.Text, Does.Contain("page classes unavailable from pfn 0x120 on, keeping those pages whole: mem_section 7 is corrupt"));
    }

    private static IEnumerator<PageClassRun> FailingAfterTwoRuns()
    {
        yield return new PageClassRun(new PageFrameNumber(0x100), 0x10, PageClass.Free);
        yield return new PageClassRun(new PageFrameNumber(0x110), 0x10, PageClass.User);
        throw new KdumpSharp.Kernel.KernelDataException("mem_section 7 is corrupt");
    }

    private static IEnumerable<ulong> Range(ulong first, ulong count) => Enumerable.Range(0, (int)count).Select(i => first + (ulong)i);

    private static List<ulong> BulkPfns(IEnumerable<CaptureRunner.CaptureStep> steps) =>
        steps.Where(s => s.Exclusion is null).SelectMany(s => Range(s.First, s.Count).Where(pfn => s.Bulk.IsSet((int)(pfn - s.First)))).ToList();
}
