namespace KdumpSharp.Filtering;

/// <summary>How a kernel stores a page type in page._mapcount (include/linux/page-flags.h), told apart by
/// the shape of the exported NUMBER(PAGE_*_MAPCOUNT_VALUE), never by the kernel version.</summary>
public enum PageTypeEncoding
{
    /// <summary>6.12+: the type is the top byte (PGTY_x &lt;&lt; 24); the low 24 bits are free for the owner.
    /// The kernel tests <c>page_type &gt;&gt; 24 == PGTY_x</c>.</summary>
    TopByte,

    /// <summary>4.18–6.11: _mapcount starts at -1 and setting a type clears one bit, so the exported value is
    /// <c>~PG_x</c>. The kernel tests <c>(page_type &amp; (PAGE_TYPE_BASE | PG_x)) == PAGE_TYPE_BASE</c>, with
    /// PAGE_TYPE_BASE the top nibble (0xf0000000), less the type's own bit where a type lived there.</summary>
    ClearedBit,

    /// <summary>2.6.38–4.17 and anything else: the kernel compared _mapcount with the value (-128 for buddy).</summary>
    Exact,
}

/// <summary>One page type as the crashed kernel encodes it, from its exported NUMBER(PAGE_x_MAPCOUNT_VALUE).</summary>
public readonly record struct PageTypeTest
{
    private const uint TopNibble = 0xf000_0000;

    public PageTypeTest(int value)
    {
        Value = value;
        uint v = (uint)value;
        if ((v & 0x00ff_ffff) == 0 && (v >> 24) >= 0x80)
            Encoding = PageTypeEncoding.TopByte;
        else if (System.Numerics.BitOperations.PopCount(~v) == 1 && (v & TopNibble) != 0)
            Encoding = PageTypeEncoding.ClearedBit;
        else
            Encoding = PageTypeEncoding.Exact;
    }

    /// <summary>The exported value, as the kernel printed it (signed).</summary>
    public int Value { get; }

    public PageTypeEncoding Encoding { get; }

    /// <summary>Whether a page whose _mapcount holds <paramref name="mapCount"/> has this type.</summary>
    public bool Matches(uint mapCount)
    {
        uint v = (uint)Value;
        switch (Encoding)
        {
            case PageTypeEncoding.TopByte:
                return mapCount >> 24 == v >> 24;
            case PageTypeEncoding.ClearedBit:
                // The type's own bit is clear in v, so v's top nibble is PAGE_TYPE_BASE without it.
                uint typeBase = v & TopNibble;
                return (mapCount & (typeBase | ~v)) == typeBase;
            default:
                return mapCount == v;
        }
    }

    /// <summary>
    /// Whether only a _mapcount below -1 (as an int) can match: then a page whose _mapcount is -1 (unmapped)
    /// or a map count has no type. True of every encoding but an exact -1 or a top byte of 0xff: a cleared-bit
    /// type has bit 31 and one bit of the top nibble set and clear, a top-byte type a top byte of 0x80 or more.
    /// </summary>
    public bool MatchesOnlyBelowMinusOne => Encoding switch
    {
        PageTypeEncoding.Exact => Value < -1,
        PageTypeEncoding.TopByte => (uint)Value >> 24 != 0xff,
        _ => true,
    };

    public override string ToString() => $"{Value} ({Encoding})";
}
