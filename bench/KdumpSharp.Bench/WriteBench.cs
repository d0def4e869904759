using System.Diagnostics;
using KdumpSharp.Compression;
using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;

namespace KdumpSharp.Bench;

/// <summary>
/// How fast <see cref="NativeDumpWriter.Write"/> converts a real dump, for each codec and thread
/// count: wall time and CPU time (best of <see cref="Rounds"/>), as MB/s of the RAM the dump
/// describes and of the non-zero pages actually compressed, and the output size. The output goes to a file under $TMPDIR (deleted after), so the
/// times include writing it into the page cache but not to disk.
/// </summary>
internal static class WriteBench
{
    private const int Rounds = 5;

    public static int Run(string[] dumps)
    {
        foreach (string path in dumps)
        {
            using IDumpReader source = DumpFile.Open(path);
            double ramMb = source.Memory.TotalBytes / 1e6;
            Console.WriteLine($"{path}: {ramMb:F0} MB of RAM in {source.Memory.Ranges.Count} ranges, {source.Properties.Format}");
            Console.WriteLine("codec  threads  RAM MB/s  data MB/s  cpu s   output bytes  stored pages  zero pages");
            foreach (PageCompression codec in new[] { PageCompression.Lz4, PageCompression.Zstd, PageCompression.None })
                foreach (int threads in new[] { 1, 2 })
                    Measure(source, codec, threads, ramMb);
        }
        return 0;
    }

    private static void Measure(IDumpReader source, PageCompression codec, int threads, double ramMb)
    {
        string output = Path.Combine(Path.GetTempPath(), $"kds-bench-{Environment.ProcessId}.kds");
        double bestWall = double.MaxValue, bestCpu = double.MaxValue;
        NativeWriteResult? result = null;
        try
        {
            for (int round = 0; round < Rounds; round++)
            {
                File.Delete(output);
                TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var wall = Stopwatch.StartNew();
                using (var stream = new FileStream(output, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                    result = NativeDumpWriter.Write(source, stream, new NativeDumpWriterOptions { Compression = codec, Parallelism = threads });
                bestWall = Math.Min(bestWall, wall.Elapsed.TotalSeconds);
                bestCpu = Math.Min(bestCpu, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
            }
        }
        finally
        {
            File.Delete(output);
        }
        double dataMb = result!.Pages.Stored * 4096 / 1e6;
        Console.WriteLine($"{PageCodec.DisplayName(codec),-6} {threads,7}  {ramMb / bestWall,8:F0}  {dataMb / bestWall,9:F0}  {bestCpu,5:F2}  {result.Bytes,13}  {result.Pages.Stored,12}  {result.Pages.Zero,10}");
    }
}
