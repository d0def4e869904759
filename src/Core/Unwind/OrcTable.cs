using System.Buffers.Binary;
using KdumpSharp.Kernel;

namespace KdumpSharp.Unwind;

/// <summary>
/// The kernel's ORC unwind tables: <c>__start_orc_unwind_ip</c> (s32 each, relative to its own
/// address: ip = &amp;entry + value) and the parallel <c>__start_orc_unwind</c> entries
/// (arch/x86/kernel/unwind_orc.c). Sorted at build time (BUILDTIME_TABLE_SORT) or at boot, so a
/// binary search for the last ip at or below an address finds its entry, as the kernel's
/// __orc_find() does after narrowing with orc_lookup (an index we do not need).
/// </summary>
public sealed class OrcTable
{
    /// <summary>More entries than any vmlinux has (Debian 6.1: about 380 000).</summary>
    public const int MaxEntries = 8 << 20;

    private readonly ulong[] _ips;
    private readonly OrcEntry[] _entries;

    private OrcTable(ulong[] ips, OrcEntry[] entries, OrcFormat format)
    {
        _ips = ips;
        _entries = entries;
        Format = format;
    }

    public OrcFormat Format { get; }

    public int Count => _ips.Length;

    public static OrcTable Parse(ReadOnlySpan<byte> ipTable, ulong ipTableAddress, ReadOnlySpan<byte> entryTable, OrcFormat format)
    {
        if (ipTable.Length % 4 != 0 || entryTable.Length % OrcEntry.Size != 0 || ipTable.Length / 4 != entryTable.Length / OrcEntry.Size)
            throw new KernelDataException($"ORC tables disagree: {ipTable.Length} bytes of ips, {entryTable.Length} bytes of 6-byte entries");
        int count = ipTable.Length / 4;
        if (count == 0 || count > MaxEntries)
            throw new KernelDataException($"ORC table has {count} entries, not a plausible count");
        var ips = new ulong[count];
        var entries = new OrcEntry[count];
        for (int i = 0; i < count; i++)
        {
            ips[i] = ipTableAddress + (ulong)i * 4 + (ulong)(long)BinaryPrimitives.ReadInt32LittleEndian(ipTable[(i * 4)..]);
            entries[i] = OrcEntry.Decode(entryTable[(i * OrcEntry.Size)..], format);
            if (i > 0 && ips[i] < ips[i - 1])
                throw new KernelDataException($"ORC ip table is not sorted at entry {i} (0x{ips[i]:x} after 0x{ips[i - 1]:x})");
        }
        return new OrcTable(ips, entries, format);
    }

    /// <summary>The entry covering <paramref name="ip"/>, or null outside the table.</summary>
    public OrcEntry? Find(ulong ip)
    {
        if (ip < _ips[0])
            return null;
        int lo = 0, hi = _ips.Length - 1;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (_ips[mid] <= ip)
                lo = mid;
            else
                hi = mid - 1;
        }
        return _entries[lo];
    }
}
