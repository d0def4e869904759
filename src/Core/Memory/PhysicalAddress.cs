namespace KdumpSharp.Memory;

/// <summary>A physical address in the dumped machine.</summary>
public readonly record struct PhysicalAddress(ulong Value) : IComparable<PhysicalAddress>
{
    public PageFrameNumber Frame => new(Value >> PageFrameNumber.PageShift);
    public uint PageOffset => (uint)(Value & (PageFrameNumber.PageSize - 1));

    public int CompareTo(PhysicalAddress other) => Value.CompareTo(other.Value);
    public static PhysicalAddress operator +(PhysicalAddress a, ulong delta) => new(a.Value + delta);
    public static ulong operator -(PhysicalAddress a, PhysicalAddress b) => a.Value - b.Value;
    public static bool operator <(PhysicalAddress a, PhysicalAddress b) => a.Value < b.Value;
    public static bool operator >(PhysicalAddress a, PhysicalAddress b) => a.Value > b.Value;
    public static bool operator <=(PhysicalAddress a, PhysicalAddress b) => a.Value <= b.Value;
    public static bool operator >=(PhysicalAddress a, PhysicalAddress b) => a.Value >= b.Value;

    public override string ToString() => $"0x{Value:x}";
}
