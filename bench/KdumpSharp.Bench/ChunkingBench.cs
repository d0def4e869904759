using System.Diagnostics;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;

namespace KdumpSharp.Bench;

/// <summary>
/// Why the native format compresses chunks and not single pages: every non-zero page the dump holds
/// (in pfn order, zero pages left out as the format does) is compressed in blocks of 1, 4, 16 and 64
/// pages, with LZ4 and zstd level 1, single-threaded. Reports the ratio (stored / raw, a block that
/// does not shrink is stored raw), compression and decompression MB/s of raw page bytes (best of
/// <see cref="Rounds"/>), and the cost of reading one random page (decode its whole block). Times are
/// the process's CPU time, not wall time: the machines this runs on are shared, and CPU time is what
/// the work costs whoever else is running.
/// </summary>
internal static class ChunkingBench
{
    private const int PageSize = PageFrameNumber.PageSize;
    private const int Rounds = 7;
    private static readonly int[] BlockPages = [1, 4, 16, 64];

    public static int Run(string[] dumps)
    {
        foreach (string path in dumps)
        {
            (byte[] pages, long count, long zero) = LoadPages(path);
            Console.WriteLine($"{path}: {count} non-zero present pages ({count * PageSize >> 20} MiB), {zero} zero pages left out");
            Console.WriteLine("codec  block     ratio   compress MB/s  decompress MB/s  random page µs");
            foreach (PageCompression kind in new[] { PageCompression.Lz4, PageCompression.Zstd })
                foreach (int blockPages in BlockPages)
                    Measure(kind, blockPages, pages, count);
        }
        return 0;
    }

    private static (byte[] Pages, long Count, long Zero) LoadPages(string path)
    {
        using IDumpReader reader = DumpFile.Open(path);
        PhysicalMemory memory = reader.Memory;
        var buffer = new MemoryStream();
        var page = new byte[PageSize];
        long count = 0, zero = 0;
        foreach (PhysicalRange range in memory.Ranges)
            for (ulong pfn = range.Start.Frame.Value; pfn < (range.End.Value + PageSize - 1) / PageSize; pfn++)
            {
                if (memory.ReadPage(new PageFrameNumber(pfn), page) != PageState.Present)
                    continue;
                if (page.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                {
                    zero++;
                    continue;
                }
                buffer.Write(page);
                count++;
            }
        return (buffer.ToArray(), count, zero);
    }

    private static void Measure(PageCompression kind, int blockPages, byte[] pages, long count)
    {
        using PageCodec codec = PageCodec.Create(kind);
        int blockBytes = blockPages * PageSize;
        int blocks = (int)((count + blockPages - 1) / blockPages);
        var stored = new byte[blocks][];
        var compressed = new bool[blocks];
        var scratch = new byte[blockBytes];
        double bestCompress = double.MaxValue, bestDecompress = double.MaxValue;
        long storedBytes = 0;
        for (int round = 0; round < Rounds; round++)
        {
            storedBytes = 0;
            var watch = CpuWatch.StartNew();
            for (int b = 0; b < blocks; b++)
            {
                ReadOnlySpan<byte> raw = Block(pages, b, blockBytes);
                if (codec.TryCompress(raw, scratch, out int written))
                {
                    stored[b] = scratch[..written];
                    compressed[b] = true;
                }
                else
                {
                    stored[b] = raw.ToArray();
                    compressed[b] = false;
                }
                storedBytes += stored[b].Length;
            }
            bestCompress = Math.Min(bestCompress, watch.Seconds);

            watch = CpuWatch.StartNew();
            for (int b = 0; b < blocks; b++)
                Decode(codec, stored[b], compressed[b], scratch.AsSpan(0, Block(pages, b, blockBytes).Length));
            bestDecompress = Math.Min(bestDecompress, watch.Seconds);
        }

        // Random single-page reads: decode the block holding a random page, no cache.
        var random = new Random(1);
        const int Reads = 20_000;
        var timer = CpuWatch.StartNew();
        for (int i = 0; i < Reads; i++)
        {
            int b = random.Next(blocks);
            Decode(codec, stored[b], compressed[b], scratch.AsSpan(0, Block(pages, b, blockBytes).Length));
        }
        double perRead = timer.Seconds * 1e6 / Reads;

        double rawMb = pages.Length / 1e6;
        Console.WriteLine($"{PageCodec.DisplayName(kind),-6} {blockBytes / 1024,3} KiB  {storedBytes / (double)pages.Length,7:F3}   {rawMb / bestCompress,13:F0}  {rawMb / bestDecompress,15:F0}  {perRead,14:F1}");
    }

    private static ReadOnlySpan<byte> Block(byte[] pages, int block, int blockBytes)
    {
        long start = (long)block * blockBytes;
        return pages.AsSpan((int)start, (int)Math.Min(blockBytes, pages.Length - start));
    }

    private static void Decode(PageCodec codec, byte[] stored, bool compressed, Span<byte> destination)
    {
        if (!compressed)
            stored.CopyTo(destination);
        else if (!codec.TryDecompress(stored, destination))
            throw new InvalidOperationException("round trip failed");
    }
}

/// <summary>CPU time of this process (user + system) since it was started; the bench is single-threaded.</summary>
internal readonly struct CpuWatch
{
    private readonly TimeSpan _start;

    private CpuWatch(TimeSpan start) => _start = start;

    public static CpuWatch StartNew() => new(Process.GetCurrentProcess().TotalProcessorTime);

    public double Seconds => (Process.GetCurrentProcess().TotalProcessorTime - _start).TotalSeconds;
}
