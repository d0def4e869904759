namespace KdumpSharp.Filtering;

/// <summary>The dump-level-1 test: a page whose bytes are all zero (makedumpfile is_zero_page).</summary>
public static class ZeroPage
{
    /// <summary>True when every byte of <paramref name="page"/> is zero. Vectorised: one pass, stopping at the first non-zero byte.</summary>
    public static bool IsZero(ReadOnlySpan<byte> page) => !page.ContainsAnyExcept((byte)0);
}
