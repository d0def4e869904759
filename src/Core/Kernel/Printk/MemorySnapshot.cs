using KdumpSharp.Memory;

namespace KdumpSharp.Kernel.Printk;

/// <summary>
/// A copy of one kernel array (descriptor ring, info array, text ring, log_buf) read page by page, so
/// that a page missing from the dump costs only the records that touch it: readers ask
/// <see cref="TryGet"/> per record and skip the ones that overlap a gap. Each gap is described once
/// in <see cref="Gaps"/>, with the fault that caused it.
/// </summary>
internal sealed class MemorySnapshot
{
    private readonly byte[] _bytes;
    private readonly List<(long Start, long End)> _missing = new();

    private MemorySnapshot(string name, ulong address, byte[] bytes)
    {
        Name = name;
        Address = address;
        _bytes = bytes;
    }

    public string Name { get; }
    public ulong Address { get; }
    public long Length => _bytes.LongLength;

    /// <summary>One sentence per run of unreadable bytes, in address order.</summary>
    public List<string> Gaps { get; } = new();

    /// <summary>Reads <paramref name="length"/> bytes at <paramref name="address"/>; the caller has
    /// checked the length against <see cref="Dumps.DumpLimits.MaxLogBufferBytes"/>.</summary>
    public static MemorySnapshot Read(VirtualMemory memory, string name, ulong address, long length)
    {
        if (length < 0 || length > Array.MaxLength)
            throw new KernelDataException($"{name}: {length} bytes cannot be held in one buffer");
        if (length > 0 && address + (ulong)length - 1 < address)
            throw new KernelDataException($"{name}: 0x{address:x} + {length} bytes wraps around the address space");
        var snapshot = new MemorySnapshot(name, address, new byte[length]);
        long at = 0;
        MemoryFaultException? runFault = null;
        long runStart = 0;
        // One iteration per page touched: bounded by length / page size + 1.
        while (at < length)
        {
            ulong va = address + (ulong)at;
            int chunk = (int)Math.Min(length - at, PageFrameNumber.PageSize - (long)(va & (PageFrameNumber.PageSize - 1)));
            MemoryFaultException? fault = null;
            try
            {
                // Unmapped pages are common in a corrupt dump's wild pointers: test before reading
                // so they cost no exception.
                if (memory.TryTranslate(va, out _, out _))
                    memory.Read(va, snapshot._bytes.AsSpan((int)at, chunk));
                else
                    fault = new MemoryFaultException(AddressSpaceKind.KernelVirtual, va, PageState.Present);
            }
            catch (MemoryFaultException thrown)
            {
                fault = thrown;
            }
            if (fault is null && runFault is not null)
            {
                snapshot.AddGap(runStart, at, runFault);
                runFault = null;
            }
            else if (fault is not null && runFault is null)
            {
                runFault = fault;
                runStart = at;
            }
            at += chunk;
        }
        if (runFault is not null)
            snapshot.AddGap(runStart, length, runFault);
        return snapshot;
    }

    /// <summary>The bytes at [offset, offset+length) when the dump holds all of them; false when any is
    /// missing. The caller guarantees the range lies inside the snapshot.</summary>
    public bool TryGet(long offset, int length, out ReadOnlyMemory<byte> bytes)
    {
        // _missing is sorted and disjoint (runs are found in address order): find the first run
        // ending after offset; the range is unreadable iff that run starts before the range ends.
        int lo = 0, hi = _missing.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_missing[mid].End <= offset)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < _missing.Count && _missing[lo].Start < offset + length)
        {
            bytes = default;
            return false;
        }
        bytes = _bytes.AsMemory((int)offset, length);
        return true;
    }

    private void AddGap(long start, long end, MemoryFaultException fault)
    {
        _missing.Add((start, end));
        Gaps.Add($"{Name} bytes 0x{Address + (ulong)start:x}-0x{Address + (ulong)end - 1:x} ({end - start} bytes) could not be read: {fault.Message}");
    }
}
