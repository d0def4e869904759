namespace KdumpSharp.Tests.Kexec;

/// <summary>The real Debian vmlinuz files the test harness caches (scripts/setup.sh).</summary>
internal static class KexecTestKernels
{
    private const string CacheRoot = "/var/cache/kdumpsharp-test/kernels";

    public static IEnumerable<TestCaseData> All()
    {
        foreach (string name in new[] { "linux-image-6.1.0-56-amd64", "linux-image-6.12.117+deb12-amd64-unsigned" })
            yield return new TestCaseData(name).SetName($"{{m}} {name}");
    }

    /// <summary>The vmlinuz of <paramref name="package"/>; a missing cache is a failure (run scripts/setup.sh), not a skip.</summary>
    public static string Path(string package)
    {
        string boot = System.IO.Path.Join(CacheRoot, package, "root", "boot");
        string[] found = Directory.Exists(boot) ? Directory.GetFiles(boot, "vmlinuz-*") : [];
        if (found.Length != 1)
            Assert.Fail($"{boot} has no vmlinuz; run scripts/setup.sh to cache the test kernels");
        return found[0];
    }
}
