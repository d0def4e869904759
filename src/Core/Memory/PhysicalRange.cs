namespace KdumpSharp.Memory;

/// <summary>A half-open range [Start, End) of physical memory.</summary>
public readonly record struct PhysicalRange(PhysicalAddress Start, PhysicalAddress End)
{
    public static PhysicalRange FromLength(ulong start, ulong length) => new(new(start), new(start + length));

    public ulong Length => End.Value - Start.Value;
    public bool IsEmpty => End.Value <= Start.Value;
    public bool Contains(PhysicalAddress address) => address >= Start && address < End;
    public bool Overlaps(PhysicalRange other) => Start < other.End && other.Start < End;

    public override string ToString() => $"[{Start}, {End})";
}
