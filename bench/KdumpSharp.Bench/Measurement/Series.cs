namespace KdumpSharp.Bench.Measurement;

/// <summary>A run after the page cache was emptied, and how much of each input file it pulled into the cache.</summary>
internal sealed record ColdRun(RunResult Run, IReadOnlyDictionary<string, long> CachedBytes);

/// <summary>Statistics over repeated runs of one command.</summary>
internal static class Series
{
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        if (sorted.Length == 0)
            return double.NaN;
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    public static double MedianWall(this IReadOnlyList<RunResult> runs) => Median(runs.Select(r => r.WallSeconds));

    public static double MedianCpu(this IReadOnlyList<RunResult> runs) => Median(runs.Select(r => r.CpuSeconds));

    /// <summary>The highest peak RSS of the runs that measured it, or null.</summary>
    public static long? PeakRssKiB(this IReadOnlyList<RunResult> runs) => runs.Max(r => r.PeakRssKiB);
}
