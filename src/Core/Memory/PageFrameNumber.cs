namespace KdumpSharp.Memory;

/// <summary>
/// A physical page frame number. x86_64 dumps use 4 KiB pages (PAGESIZE in VMCOREINFO and
/// block_size in makedumpfile's header both say 4096); other sizes are rejected when a dump opens.
/// </summary>
public readonly record struct PageFrameNumber(ulong Value) : IComparable<PageFrameNumber>
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;

    public PhysicalAddress Address => new(Value << PageShift);

    public int CompareTo(PageFrameNumber other) => Value.CompareTo(other.Value);
    public static PageFrameNumber operator +(PageFrameNumber a, ulong delta) => new(a.Value + delta);
    public static bool operator <(PageFrameNumber a, PageFrameNumber b) => a.Value < b.Value;
    public static bool operator >(PageFrameNumber a, PageFrameNumber b) => a.Value > b.Value;
    public static bool operator <=(PageFrameNumber a, PageFrameNumber b) => a.Value <= b.Value;
    public static bool operator >=(PageFrameNumber a, PageFrameNumber b) => a.Value >= b.Value;

    public override string ToString() => $"pfn 0x{Value:x}";
}
