namespace KdumpSharp.Tests.Fuzzing;

/// <summary>
/// The random source of every fuzz test. It is seeded from the test's name with a fixed hash,
/// never <see cref="HashCode"/> (randomised per process), so a failure CI reports happens again on
/// every machine. KDS_FUZZ_ROUND=n shifts every seed, to explore new cases by hand; the dump
/// readers' failure messages name the round so such a case can be replayed.
/// </summary>
internal static class FuzzRandom
{
    public static int Round { get; } = int.TryParse(Environment.GetEnvironmentVariable("KDS_FUZZ_ROUND"), out int round) ? round : 0;

    public static Random For(string name, int variant)
    {
        // FNV-1a over the name's UTF-16 code units, then the variant and the round.
        uint hash = 2166136261;
        foreach (char c in name)
            hash = (hash ^ c) * 16777619;
        hash = (hash ^ (uint)variant) * 16777619;
        hash = (hash ^ (uint)Round) * 16777619;
        return new Random((int)(hash & 0x7fffffff));
    }

    /// <summary>"name mutation case i" plus the round when it is not the default one.</summary>
    public static string Case(string name, Mutation mutation, int index) =>
        Round == 0 ? $"{name} {mutation} case {index}" : $"{name} {mutation} case {index} (KDS_FUZZ_ROUND={Round})";
}
