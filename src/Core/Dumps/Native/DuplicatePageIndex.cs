using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using KdumpSharp.Interop;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Native;

/// <summary>
/// Finds pages a capture already stored with the same bytes, so the dump records a reference to the
/// earlier page (a Copy, docs/format.md §4.1) instead of compressing the bytes again. Memory holds the
/// same data many times over: a file in the page cache and the buffer a process read it into, the
/// freed pages that held it before, the initramfs archive and the files unpacked from it. On the VM
/// harness's idle guests 45–50 % of the non-zero pages repeat an earlier one.
/// <para>
/// A fingerprint only nominates a candidate: the earlier page is read back and compared byte for byte
/// before a copy is recorded, so no hash collision, accidental or crafted by a process that controls
/// page contents, can put the wrong bytes in a dump.
/// </para>
/// <para>
/// Memory is bounded: a table of 8-byte entries (4-way sets, newest first, the oldest of a full set
/// forgotten) that may grow to one entry per RAM page of the dump, between 4096 entries and 2^21
/// (16 MiB). A page whose earlier twin was forgotten is simply stored. With one entry per two RAM
/// pages the realistic 4 GiB dump's sets overflowed and 56 000 of its 470 000 repeats were forgotten
/// and compressed again; with one per page, 15 000 (docs/format.md §4.5).
/// </para>
/// <para>
/// The table starts at <see cref="InitialEntries"/> and doubles in place whenever the pages remembered
/// pass a quarter of its entries, so it costs what the stored pages need, not what the RAM could: a
/// level-31 capture of the realistic 4 GiB dump stores ~30 000 pages and stays at 1 MiB, where a table
/// sized for the RAM took 8 MiB, and lookups spread over 8 MiB missed the caches and the TLB (that
/// capture took ~7 % less time on one thread with the smaller table). Doubling at a quarter, not at
/// half, keeps the sets from overflowing before the table grows: at half, a level-1 capture of that
/// dump found 435 016 copies instead of 456 931; at a quarter, 456 186. The whole table is one
/// anonymous mapping reserved up front, so growing copies nothing and never needs more memory than
/// the largest table: only the pages in use are touched.
/// </para>
/// Not thread-safe: the capture's writing thread owns it.
/// </summary>
public sealed unsafe class DuplicatePageIndex : IDisposable
{
    private const int Ways = 4;
    private const int MinEntries = 1 << 12;
    private const int MaxEntries = 1 << 21;

    /// <summary>Entries of a new table, when the RAM allows more: 1 MiB.</summary>
    private const int InitialEntries = 1 << 17;

    // An entry: the fingerprint's top 20 bits (the tag), then its GrowthBits bits above the initial
    // table's set bits (where each entry moves when the table doubles), then pfn + 1 in the low 40
    // bits (0 marks an empty entry). 2^21 / 2^17 entries is four doublings.
    private const int PfnBits = 40;
    private const int GrowthBits = 4;
    private const ulong PfnMask = (1UL << PfnBits) - 1;
    private const ulong TagMask = ~0UL << (PfnBits + GrowthBits);

    private readonly ulong* _table;
    private readonly int _maxEntries;
    private readonly int _initialSetBits;
    private int _doublings;
    private int _entries;
    private ulong _setMask;
    private long _remembered;
    private bool _disposed;
    private readonly byte[] _candidate = new byte[PageFrameNumber.PageSize];

    /// <param name="ramPages">RAM pages of the dump, which bound the table.</param>
    public DuplicatePageIndex(ulong ramPages)
    {
        _maxEntries = Entries(ramPages);
        nuint bytes = (nuint)_maxEntries * sizeof(ulong);
        void* table = LibC.Mmap(null, bytes, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (table == LibC.MapFailed)
            throw new OutOfMemoryException($"cannot map the {bytes >> 10} KiB copy table: {Marshal.GetLastPInvokeErrorMessage()}");
        _table = (ulong*)table;
        _entries = Math.Min(_maxEntries, InitialEntries);
        _setMask = (ulong)(_entries / Ways - 1);
        // Not BitOperations.Log2: its precompiled code depends on the CPU lacking LZCNT, so on one that has
        // it the runtime throws that code away and JIT-compiles the method at every start.
        while (1 << _initialSetBits < _entries / Ways)
            _initialSetBits++;
    }

    /// <summary>Pages found to repeat an earlier page.</summary>
    public long Copies { get; private set; }

    /// <summary>Candidates whose fingerprint matched but whose bytes did not.</summary>
    public long FalseMatches { get; private set; }

    /// <summary>Bytes of the table in use (it grows with the pages remembered, up to <see cref="TableBytesFor"/>).</summary>
    public long TableBytes => (long)_entries * sizeof(ulong);

    /// <summary>Bytes the table can take for a dump of <paramref name="ramPages"/> RAM pages (the crash kernel must have them).</summary>
    public static long TableBytesFor(ulong ramPages) => Entries(ramPages) * sizeof(ulong);

    private static int Entries(ulong ramPages) => (int)Math.Clamp(BitOperations.RoundUpToPowerOf2(Math.Max(ramPages, 1)), MinEntries, MaxEntries);

    /// <summary>
    /// A 64-bit fingerprint of a 4096-byte page, well spread in its low bits (the set) and its top
    /// bits (the tag); equality is still checked on the bytes. With AVX2, eight 64-bit lanes
    /// accumulate each word's halves multiplied (vpmuludq) plus its neighbour word, the stripe
    /// accumulation of XXH3, about three times faster than the scalar form; without, four
    /// multiply-rotate lanes (the round of xxHash64). The two give different values, which is
    /// harmless: fingerprints never leave the process, and every thread of one takes the same path.
    /// </summary>
    public static ulong Fingerprint(ReadOnlySpan<byte> page)
    {
        if (page.Length != PageFrameNumber.PageSize)
            throw new ArgumentException($"a page is {PageFrameNumber.PageSize} bytes, not {page.Length}", nameof(page));
        return Avx2.IsSupported ? FingerprintAvx2(page) : FingerprintScalar(page);
    }

    internal static ulong FingerprintAvx2(ReadOnlySpan<byte> page)
    {
        ref byte start = ref MemoryMarshal.GetReference(page);
        ref ulong keys = ref MemoryMarshal.GetArrayDataReference(StripeKeys);
        Vector256<ulong> a = Vector256<ulong>.Zero, b = Vector256<ulong>.Zero;
        for (int offset = 0; offset < PageFrameNumber.PageSize; offset += 2 * 32)
        {
            a = Accumulate(a, Vector256.LoadUnsafe(ref Unsafe.Add(ref start, offset)).AsUInt64(), Vector256.LoadUnsafe(ref keys, (nuint)offset / sizeof(ulong)));
            b = Accumulate(b, Vector256.LoadUnsafe(ref Unsafe.Add(ref start, offset + 32)).AsUInt64(), Vector256.LoadUnsafe(ref keys, (nuint)(offset + 32) / sizeof(ulong)));
        }
        // Each lane through its own bijection before they are added: folding the additive lanes into
        // each other directly (xor or add) lets small changes in two lanes cancel.
        return Avalanche(Scramble(a[0], Prime1) + Scramble(a[1], Prime2) + Scramble(a[2], Prime3) + Scramble(a[3], Prime4)
            + Scramble(b[0], Prime5) + Scramble(b[1], Prime6) + Scramble(b[2], Prime7) + Scramble(b[3], Prime8));
    }

    /// <summary>
    /// One key per word of the page, from SplitMix64: every stripe is keyed differently (XXH3 slides
    /// its secret for the same reason). With one key, or keys in arithmetic progression, equal words
    /// in two stripes give products in fixed ratios, and small values written at two places cancel
    /// out to equal sums; the tests found such pairs.
    /// </summary>
    private static readonly ulong[] StripeKeys = CreateStripeKeys();

    private static ulong[] CreateStripeKeys()
    {
        var keys = new ulong[PageFrameNumber.PageSize / sizeof(ulong)];
        ulong state = Prime4;
        for (int i = 0; i < keys.Length; i++)
        {
            ulong z = state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            keys[i] = z ^ (z >> 31);
        }
        return keys;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Accumulate(Vector256<ulong> accumulator, Vector256<ulong> words, Vector256<ulong> key)
    {
        Vector256<ulong> keyed = words ^ key;
        Vector256<ulong> product = Avx2.Multiply(keyed.AsUInt32(), Avx2.ShiftRightLogical(keyed, 32).AsUInt32());
        // The neighbour word added as it is keeps every input bit in the sum, even when a product is 0.
        Vector256<ulong> neighbour = Avx2.Shuffle(words.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return accumulator + product + neighbour;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Scramble(ulong lane, ulong prime) => BitOperations.RotateLeft(lane * prime, 31) * Prime1;

    internal static ulong FingerprintScalar(ReadOnlySpan<byte> page)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(page);
        ulong a = unchecked(Prime1 + Prime2), b = Prime2, c = 0, d = unchecked(0 - Prime1);
        for (int i = 0; i < words.Length; i += 4)
        {
            a = Round(a, words[i]);
            b = Round(b, words[i + 1]);
            c = Round(c, words[i + 2]);
            d = Round(d, words[i + 3]);
        }
        return Avalanche(BitOperations.RotateLeft(a, 1) + BitOperations.RotateLeft(b, 7) + BitOperations.RotateLeft(c, 12) + BitOperations.RotateLeft(d, 18));
    }

    private static ulong Avalanche(ulong h)
    {
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        return h ^ (h >> 32);
    }

    /// <summary>
    /// Looks for a remembered page with <paramref name="page"/>'s bytes: candidates with the same
    /// fingerprint are read back from <paramref name="memory"/> and compared. True, with its frame, when one is equal.
    /// </summary>
    public bool TryFindCopy(ulong fingerprint, ReadOnlySpan<byte> page, PhysicalMemory memory, out PageFrameNumber source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<ulong> set = Set(fingerprint);
        ulong tag = fingerprint & TagMask;
        foreach (ulong entry in set)
        {
            if (entry == 0)
                break;
            if ((entry & TagMask) != tag)
                continue;
            var candidate = new PageFrameNumber((entry & PfnMask) - 1);
            if (memory.ReadPage(candidate, _candidate) == PageState.Present && page.SequenceEqual(_candidate))
            {
                source = candidate;
                Copies++;
                return true;
            }
            FalseMatches++;
        }
        source = default;
        return false;
    }

    /// <summary>Remembers a page the capture stored (not all zero), as the newest of its set.</summary>
    public void Remember(PageFrameNumber frame, ulong fingerprint)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (frame.Value >= PfnMask)
            return;
        if (++_remembered > _entries / 4 && _entries < _maxEntries)
            Grow();
        Span<ulong> set = Set(fingerprint);
        set[..^1].CopyTo(set[1..]);
        set[0] = (fingerprint & TagMask) | ((fingerprint >> _initialSetBits) & ((1UL << GrowthBits) - 1)) << PfnBits | (frame.Value + 1);
    }

    /// <summary>
    /// Doubles the table: set s splits into sets s and s + the old set count, by the fingerprint bit the
    /// new set mask adds, which each entry kept (its growth bits). Entries keep their order, newest first,
    /// and the new upper half of the mapping is still untouched zero pages.
    /// </summary>
    private void Grow()
    {
        int sets = _entries / Ways;
        int bit = _doublings++;
        for (int s = 0; s < sets; s++)
        {
            Span<ulong> low = new(_table + s * Ways, Ways), high = new(_table + (s + sets) * Ways, Ways);
            int kept = 0, moved = 0;
            for (int way = 0; way < Ways && low[way] != 0; way++)
            {
                ulong entry = low[way];
                if ((entry >> (PfnBits + bit) & 1) != 0)
                    high[moved++] = entry;
                else
                    low[kept++] = entry;
            }
            low[kept..].Clear();
        }
        _entries *= 2;
        _setMask = (ulong)(_entries / Ways - 1);
    }

    private Span<ulong> Set(ulong fingerprint) => new(_table + (int)(fingerprint & _setMask) * Ways, Ways);

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        LibC.Munmap(_table, (nuint)_maxEntries * sizeof(ulong));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong acc, ulong word) => BitOperations.RotateLeft(acc + word * Prime2, 31) * Prime1;

    private const ulong Prime1 = 0x9E3779B185EBCA87;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
    private const ulong Prime3 = 0x165667B19E3779F9;
    // Odd 64-bit constants with mixed bits (from MurmurHash3's and xxHash's finalizers): the AVX2 lanes' scramble multipliers and the stripe keys' seed.
    private const ulong Prime4 = 0x27D4EB2F165667C5;
    private const ulong Prime5 = 0x85EBCA77C2B2AE63;
    private const ulong Prime6 = 0xFF51AFD7ED558CCD;
    private const ulong Prime7 = 0xC4CEB9FE1A85EC53;
    private const ulong Prime8 = 0x9FB21C651E98DF25;
}
