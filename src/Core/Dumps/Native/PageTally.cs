namespace KdumpSharp.Dumps.Native;

/// <summary>Pages counted by <see cref="PageKind"/>: what the writer records in the PageCounts section.</summary>
internal sealed class PageTally
{
    private readonly long[] _counts = new long[256];

    public long this[PageKind kind] => _counts[(int)kind];

    public void Add(PageKind kind, long pages) => _counts[(int)kind] += pages;

    /// <summary>The kinds with pages, in kind order.</summary>
    public IEnumerable<(PageKind Kind, long Pages)> NonZero()
    {
        for (int k = 0; k < _counts.Length; k++)
            if (_counts[k] != 0)
                yield return ((PageKind)k, _counts[k]);
    }

    public PageCounts ToPageCounts()
    {
        long otherExcluded = 0;
        for (int k = (int)PageKind.ExcludedOther; k < _counts.Length; k++)
            if (PageKinds.ReasonOf((PageKind)k) == ExclusionReason.Other)
                otherExcluded += _counts[k];
        return new PageCounts
        {
            Stored = this[PageKind.Present],
            Zero = this[PageKind.Zero],
            Copies = this[PageKind.Copy],
            Cache = this[PageKind.ExcludedCache],
            PrivateCache = this[PageKind.ExcludedPrivateCache],
            User = this[PageKind.ExcludedUser],
            Free = this[PageKind.ExcludedFree],
            HwPoison = this[PageKind.ExcludedHwPoison],
            Offline = this[PageKind.ExcludedOffline],
            OtherExcluded = otherExcluded,
            ReadErrors = this[PageKind.ReadError],
            NotCaptured = this[PageKind.NotCaptured],
        };
    }
}
