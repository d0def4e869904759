namespace KdumpSharp.Memory;

/// <summary>
/// The physical memory a dump holds. Formats implement <see cref="ReadPage"/>; the byte-range
/// reads here are shared. Pages are 4 KiB (<see cref="PageFrameNumber.PageSize"/>).
/// </summary>
public abstract class PhysicalMemory
{
    /// <summary>The RAM ranges the dumped machine had and the dump describes, sorted and disjoint.
    /// A page inside them may still be excluded or lost; a page outside them is <see cref="PageState.NotInDump"/>.</summary>
    public abstract IReadOnlyList<PhysicalRange> Ranges { get; }

    /// <summary>
    /// Copies one page into <paramref name="destination"/> (exactly one page long) and says what the dump holds for it.
    /// Only <see cref="PageState.Present"/> fills the buffer; parts of a present page outside every range read as zero.
    /// Never throws for a page the dump lacks; throws <see cref="Dumps.DumpFormatException"/> only for corrupt metadata.
    /// </summary>
    public abstract PageState ReadPage(PageFrameNumber frame, Span<byte> destination);

    /// <summary>
    /// Reads <paramref name="count"/> consecutive pages from <paramref name="first"/> into
    /// <paramref name="destination"/> (count pages long), each page's state in <paramref name="states"/>,
    /// exactly as <see cref="ReadPage"/> page by page would. Formats that can read a run of pages in
    /// one request (an ELF vmcore's PT_LOAD) override it: one large read instead of a system call per
    /// page is most of what a capture's reading costs.
    /// </summary>
    public virtual void ReadPages(PageFrameNumber first, int count, Span<byte> destination, Span<PageState> states)
    {
        for (int i = 0; i < count; i++)
            states[i] = ReadPage(first + (ulong)i, destination.Slice(i * PageFrameNumber.PageSize, PageFrameNumber.PageSize));
    }

    /// <summary>
    /// Where <paramref name="count"/> pages from <paramref name="first"/> lie in the dump's file, when
    /// they lie there whole, consecutive and uncompressed (an ELF vmcore's PT_LOAD): what a reader that
    /// maps the file needs. False otherwise, and for formats that do not store pages that way.
    /// </summary>
    public virtual bool TryGetFileExtent(PageFrameNumber first, int count, out long offset)
    {
        offset = 0;
        return false;
    }

    /// <summary>The state of a page without necessarily decoding it.</summary>
    public virtual PageState GetPageState(PageFrameNumber frame)
    {
        Span<byte> scratch = stackalloc byte[PageFrameNumber.PageSize];
        return ReadPage(frame, scratch);
    }

    /// <summary>Total bytes of RAM described by <see cref="Ranges"/>.</summary>
    public ulong TotalBytes
    {
        get
        {
            ulong total = 0;
            foreach (PhysicalRange r in Ranges)
                total += r.Length;
            return total;
        }
    }

    /// <summary>One past the highest page frame covered by <see cref="Ranges"/>.</summary>
    public PageFrameNumber EndFrame
    {
        get
        {
            IReadOnlyList<PhysicalRange> ranges = Ranges;
            return ranges.Count == 0
                ? new PageFrameNumber(0)
                : new PageFrameNumber((ranges[^1].End.Value + PageFrameNumber.PageSize - 1) >> PageFrameNumber.PageShift);
        }
    }

    /// <summary>Reads bytes at a physical address, crossing pages. Throws <see cref="MemoryFaultException"/>
    /// at the first page the dump lacks, unless <paramref name="zeroFill"/> asks for zeros there.</summary>
    public void Read(PhysicalAddress address, Span<byte> destination, bool zeroFill = false)
    {
        byte[] page = System.Buffers.ArrayPool<byte>.Shared.Rent(PageFrameNumber.PageSize);
        try
        {
            ulong at = address.Value;
            while (!destination.IsEmpty)
            {
                var current = new PhysicalAddress(at);
                int offset = (int)current.PageOffset;
                int count = Math.Min(destination.Length, PageFrameNumber.PageSize - offset);
                PageState state = ReadPage(current.Frame, page.AsSpan(0, PageFrameNumber.PageSize));
                if (state == PageState.Present)
                    page.AsSpan(offset, count).CopyTo(destination);
                else if (zeroFill)
                    destination[..count].Clear();
                else
                    throw new MemoryFaultException(AddressSpaceKind.Physical, at, state);
                destination = destination[count..];
                at += (ulong)count;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(page);
        }
    }

    public ulong ReadUInt64(PhysicalAddress address)
    {
        Span<byte> b = stackalloc byte[8];
        Read(address, b);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(b);
    }
}
