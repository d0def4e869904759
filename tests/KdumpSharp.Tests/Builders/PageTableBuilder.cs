using System.Buffers.Binary;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds x86_64 4- or 5-level page tables into a byte image of physical memory, allocating table
/// pages from a pool, so the walker can be tested without a real kernel.
/// </summary>
internal sealed class PageTableBuilder
{
    private const ulong Present = 1, Writable = 2, Huge = 1 << 7;
    private readonly byte[] _memory;
    private readonly int _levels;
    private ulong _nextTable;

    public PageTableBuilder(byte[] memory, ulong tablePool, int levels = 4, ulong entryFlags = 0)
    {
        _memory = memory;
        _levels = levels;
        _nextTable = tablePool;
        ExtraEntryBits = entryFlags;
        Root = AllocateTable();
    }

    /// <summary>Physical address of the top-level table.</summary>
    public ulong Root { get; }

    /// <summary>Bits OR-ed into every entry (e.g. an SME encryption bit the walker must strip).</summary>
    public ulong ExtraEntryBits { get; }

    public void Map4K(ulong va, ulong pa) => Map(va, pa, 1);
    public void Map2M(ulong va, ulong pa) => Map(va, pa, 2);
    public void Map1G(ulong va, ulong pa) => Map(va, pa, 3);

    private void Map(ulong va, ulong pa, int leafLevel)
    {
        ulong table = Root;
        for (int level = _levels; level > leafLevel; level--)
        {
            int index = (int)((va >> (12 + 9 * (level - 1))) & 511);
            ulong entry = Read(table, index);
            if ((entry & Present) == 0)
            {
                ulong next = AllocateTable();
                entry = next | Present | Writable | ExtraEntryBits;
                Write(table, index, entry);
            }
            table = entry & 0x000ffffffffff000 & ~ExtraEntryBits;
        }
        int leafIndex = (int)((va >> (12 + 9 * (leafLevel - 1))) & 511);
        Write(table, leafIndex, pa | Present | Writable | (leafLevel > 1 ? Huge : 0) | ExtraEntryBits);
    }

    private ulong AllocateTable()
    {
        ulong t = _nextTable;
        _nextTable += 4096;
        return t;
    }

    private ulong Read(ulong table, int index) => BinaryPrimitives.ReadUInt64LittleEndian(_memory.AsSpan((int)table + index * 8));
    private void Write(ulong table, int index, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(_memory.AsSpan((int)table + index * 8), value);
}
