using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using KdumpSharp.IO;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// The 1st (present: not a memory hole) and 2nd (dumpable: present and not excluded) page bitmaps
/// of a kdump-compressed file, read through the source on demand. Bit n is
/// <c>byte[n / 8] &amp; (1 &lt;&lt; n % 8)</c> (makedumpfile is_on), i.e. bit n of the little-endian word n / 64.
/// A rank table with one counter per <see cref="RankBlockFrames"/> frames (makedumpfile and crash
/// use the same block, BITMAP_SECT_LEN) turns a pfn into its page descriptor index with one read of
/// at most 512 bytes: 8 bytes of table per 512 bytes of bitmap.
/// </summary>
internal sealed class KdumpBitmaps
{
    public const int RankBlockFrames = 4096;
    private const int WordsPerRankBlock = RankBlockFrames / 64;
    private const int ScanChunkBytes = 64 * 1024;

    private readonly DumpSource _source;
    private readonly long _presentOffset;
    private readonly long _dumpableOffset;
    private readonly ulong _frames;
    private readonly long[] _rank;

    private KdumpBitmaps(DumpSource source, long presentOffset, long dumpableOffset, ulong frames)
    {
        _source = source;
        _presentOffset = presentOffset;
        _dumpableOffset = dumpableOffset;
        _frames = frames;
        _rank = new long[(frames + RankBlockFrames - 1) / RankBlockFrames + 1];
    }

    /// <summary>Reads the 2nd bitmap once to build the rank table. The caller has checked that both
    /// bitmaps, <c>ceil(frames / 8)</c> bytes each rounded up to whole words, lie inside the source.</summary>
    public static KdumpBitmaps Load(DumpSource source, long presentOffset, long dumpableOffset, ulong frames)
    {
        var bitmaps = new KdumpBitmaps(source, presentOffset, dumpableOffset, frames);
        long total = 0;
        ulong block = 0;
        bitmaps.Scan(dumpableOffset, 0, frames, (ulong firstWord, ReadOnlySpan<ulong> words) =>
        {
            // Chunks hold whole rank blocks (ScanChunkBytes is a multiple of 512), so a block never straddles two calls.
            for (int i = 0; i < words.Length; i += WordsPerRankBlock)
            {
                bitmaps._rank[block++] = total;
                foreach (ulong w in words.Slice(i, Math.Min(WordsPerRankBlock, words.Length - i)))
                    total += BitOperations.PopCount(w);
            }
        });
        bitmaps._rank[block] = total;
        return bitmaps;
    }

    public bool IsPresent(ulong pfn) => TestBit(_presentOffset, pfn);

    public bool IsDumpable(ulong pfn) => TestBit(_dumpableOffset, pfn);

    /// <summary>Set bits of the 2nd bitmap in [0, <paramref name="pfn"/>); <paramref name="pfn"/> may be max_mapnr itself.</summary>
    public long Rank(ulong pfn)
    {
        ulong block = pfn / RankBlockFrames;
        int bits = (int)(pfn % RankBlockFrames);
        long rank = _rank[block];
        if (bits == 0)
            return rank;
        Span<byte> bytes = stackalloc byte[WordsPerRankBlock * sizeof(ulong)];
        int words = (bits + 63) / 64;
        _source.ReadExactly(_dumpableOffset + (long)(block * RankBlockFrames / 8), bytes[..(words * sizeof(ulong))], "the 2nd page bitmap");
        for (int i = 0; i < words; i++)
        {
            ulong w = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * sizeof(ulong))..]);
            int valid = Math.Min(64, bits - i * 64);
            rank += BitOperations.PopCount(valid == 64 ? w : w & ((1UL << valid) - 1));
        }
        return rank;
    }

    /// <summary>Runs of set 1st-bitmap bits within [<paramref name="start"/>, <paramref name="end"/>), as physical ranges.
    /// More than <paramref name="maxRuns"/> runs is an error: each run is a RAM range of the dumped machine.</summary>
    public List<PhysicalRange> PresentRuns(ulong start, ulong end, int maxRuns)
    {
        var runs = new List<PhysicalRange>();
        bool inRun = false;
        ulong runStart = 0;
        Scan(_presentOffset, start, end, (ulong firstWord, ReadOnlySpan<ulong> words) =>
        {
            for (int i = 0; i < words.Length; i++)
            {
                ulong baseFrame = (firstWord + (ulong)i) * 64;
                ulong v = Mask(words[i], baseFrame, start, end);
                int pos = 0;
                while (pos < 64)
                {
                    ulong rest = v >> pos;
                    if (!inRun)
                    {
                        if (rest == 0)
                            break;
                        pos += BitOperations.TrailingZeroCount(rest);
                        runStart = baseFrame + (ulong)pos;
                        inRun = true;
                    }
                    else
                    {
                        // Bits shifted in at the top are zero, so the inverted run always ends by bit 64 - pos.
                        int ones = BitOperations.TrailingZeroCount(~rest);
                        if (pos + ones >= 64)
                            break;
                        pos += ones;
                        AddRun(runs, runStart, baseFrame + (ulong)pos, maxRuns);
                        inRun = false;
                    }
                }
            }
        });
        if (inRun)
            AddRun(runs, runStart, end, maxRuns);
        return runs;
    }

    private void AddRun(List<PhysicalRange> runs, ulong first, ulong end, int maxRuns)
    {
        if (runs.Count >= maxRuns)
            DumpThrow.Corrupt(_source.Name, $"the 1st page bitmap describes more than {maxRuns} separate RAM ranges", _presentOffset);
        runs.Add(new PhysicalRange(new PageFrameNumber(first).Address, new PageFrameNumber(end).Address));
    }

    private static ulong Mask(ulong word, ulong baseFrame, ulong start, ulong end)
    {
        if (start > baseFrame)
            word &= ulong.MaxValue << (int)(start - baseFrame);
        if (end < baseFrame + 64)
            word &= (1UL << (int)(end - baseFrame)) - 1;
        return word;
    }

    private bool TestBit(long bitmapOffset, ulong pfn)
    {
        Span<byte> b = stackalloc byte[1];
        _source.ReadExactly(bitmapOffset + (long)(pfn / 8), b, "a page bitmap");
        return (b[0] & (1 << (int)(pfn % 8))) != 0;
    }

    /// <summary>Feeds the words covering frames [start, end) to <paramref name="visit"/> in chunks, with the index of each chunk's first word.
    /// The last word is masked to max_mapnr; callers mask to their own range.</summary>
    private delegate void WordVisitor(ulong firstWord, ReadOnlySpan<ulong> words);

    private void Scan(long bitmapOffset, ulong start, ulong end, WordVisitor visit)
    {
        if (end <= start)
            return;
        ulong firstWord = start / 64 / WordsPerRankBlock * WordsPerRankBlock;
        ulong endWord = (end + 63) / 64;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ScanChunkBytes);
        ulong[] words = ArrayPool<ulong>.Shared.Rent(ScanChunkBytes / sizeof(ulong));
        try
        {
            for (ulong w = firstWord; w < endWord;)
            {
                int count = (int)Math.Min(endWord - w, (ulong)(ScanChunkBytes / sizeof(ulong)));
                Span<byte> bytes = buffer.AsSpan(0, count * sizeof(ulong));
                _source.ReadExactly(bitmapOffset + (long)(w * sizeof(ulong)), bytes, "a page bitmap");
                for (int i = 0; i < count; i++)
                    words[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * sizeof(ulong))..]);
                if (w + (ulong)count == endWord && endWord * 64 > _frames)
                    words[count - 1] &= (1UL << (int)(_frames % 64)) - 1;
                visit(w, words.AsSpan(0, count));
                w += (ulong)count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<ulong>.Shared.Return(words);
        }
    }
}
