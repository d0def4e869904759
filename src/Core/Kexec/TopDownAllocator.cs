using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// Hands out physical ranges from a set of free ranges, highest first — the placement kexec-tools
/// and kexec_file use (top-down), which in a crash region keeps its start free for the control
/// pages the kernel takes first-fit from there (kernel/kexec_core.c kimage_alloc_crash_control_pages).
/// </summary>
internal sealed class TopDownAllocator
{
    private readonly List<PhysicalRange> _free;

    public TopDownAllocator(IEnumerable<PhysicalRange> free) =>
        _free = free.Where(r => !r.IsEmpty).OrderBy(r => r.Start).ToList();

    public IReadOnlyList<PhysicalRange> Free => _free;

    /// <summary>The highest <paramref name="size"/>-byte range aligned to <paramref name="alignment"/> at or above <paramref name="minimum"/>, or null.</summary>
    public PhysicalRange? Allocate(ulong size, ulong alignment, ulong minimum)
    {
        for (int i = _free.Count - 1; i >= 0; i--)
        {
            PhysicalRange r = _free[i];
            if (r.Length < size)
                continue;
            ulong start = (r.End.Value - size) & ~(alignment - 1);
            if (start < r.Start.Value || start < minimum)
                continue;
            var taken = PhysicalRange.FromLength(start, size);
            _free.RemoveAt(i);
            if (taken.End < r.End)
                _free.Insert(i, new PhysicalRange(taken.End, r.End));
            if (r.Start < taken.Start)
                _free.Insert(i, new PhysicalRange(r.Start, taken.Start));
            return taken;
        }
        return null;
    }
}
