using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Builders;

/// <summary>Physical memory for unit tests: pages set by hand, everything else in the given ranges reads as zero,
/// and chosen pages can be marked excluded or lost.</summary>
internal sealed class SparsePhysicalMemory(params PhysicalRange[] ranges) : PhysicalMemory
{
    private readonly Dictionary<ulong, byte[]> _pages = new();
    private readonly Dictionary<ulong, PageState> _states = new();

    public override IReadOnlyList<PhysicalRange> Ranges { get; } = ranges;

    public void Write(ulong physicalAddress, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            ulong pfn = physicalAddress >> PageFrameNumber.PageShift;
            int offset = (int)(physicalAddress & (PageFrameNumber.PageSize - 1));
            int count = Math.Min(bytes.Length, PageFrameNumber.PageSize - offset);
            if (!_pages.TryGetValue(pfn, out byte[]? page))
                _pages[pfn] = page = new byte[PageFrameNumber.PageSize];
            bytes[..count].CopyTo(page.AsSpan(offset));
            bytes = bytes[count..];
            physicalAddress += (ulong)count;
        }
    }

    public void SetState(PageFrameNumber frame, PageState state) => _states[frame.Value] = state;

    public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination)
    {
        if (_states.TryGetValue(frame.Value, out PageState state))
            return state;
        if (!Ranges.Any(r => r.Overlaps(PhysicalRange.FromLength(frame.Address.Value, PageFrameNumber.PageSize))))
            return PageState.NotInDump;
        if (_pages.TryGetValue(frame.Value, out byte[]? page))
            page.CopyTo(destination);
        else
            destination.Clear();
        return PageState.Present;
    }
}

/// <summary>A virtual address space for unit tests: one linear window, virtual = physical + offset.</summary>
internal sealed class LinearVirtualMemory(PhysicalMemory physical, ulong virtualBase, ulong physicalBase, ulong length) : VirtualMemory(physical)
{
    public override bool TryTranslate(ulong address, out PhysicalAddress physicalAddress, out ulong contiguousBytes)
    {
        if (address < virtualBase || address - virtualBase >= length)
        {
            physicalAddress = default;
            contiguousBytes = 0;
            return false;
        }
        physicalAddress = new PhysicalAddress(physicalBase + (address - virtualBase));
        contiguousBytes = length - (address - virtualBase);
        return true;
    }
}
