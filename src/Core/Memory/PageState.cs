namespace KdumpSharp.Memory;

/// <summary>What a dump holds for one page of physical memory.</summary>
public enum PageState
{
    /// <summary>The page's bytes are in the dump. Zero, so that <see cref="PageStates.MarkPresent"/> is a clear.</summary>
    Present = 0,

    /// <summary>No RAM at this address was dumped: a hole, or beyond the end of memory.</summary>
    NotInDump,

    /// <summary>The page existed but was filtered out by the dump level (makedumpfile -d, our capture).</summary>
    Excluded,

    /// <summary>The page should be in the dump but is not: the dump was cut short (INCOMPLETE flag, truncated file).</summary>
    Lost,

    /// <summary>The page is in the dump but its bytes cannot be decoded (bad compressed data, read error during capture).</summary>
    Unreadable,
}

/// <summary>Bulk updates of page states.</summary>
public static class PageStates
{
    /// <summary>
    /// Sets every state to <see cref="PageState.Present"/> by clearing the span (Present is 0).
    /// Span&lt;PageState&gt;.Fill is vectorized with Vector&lt;T&gt;, whose width is known only at run
    /// time, so kds-capture JIT-compiled it at every start; Clear is precompiled.
    /// </summary>
    public static void MarkPresent(Span<PageState> states) => states.Clear();
}
