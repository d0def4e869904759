namespace KdumpSharp.VmTests.Harness;

/// <summary>
/// A Debian kernel package unpacked by scripts/setup.sh under the test cache
/// (<c>$KDS_CACHE</c>, default /var/cache/kdumpsharp-test): kernels/&lt;package&gt;/root/ holds
/// boot/vmlinuz-&lt;release&gt;, boot/System.map-&lt;release&gt;, boot/config-&lt;release&gt; and
/// lib/modules/&lt;release&gt;/ with a modules.dep made by depmod.
/// </summary>
public sealed record TestKernel(string Package, string Release)
{
    /// <summary>Debian 12's own kernel (plain .ko modules).</summary>
    public static TestKernel Debian61 { get; } = new("linux-image-6.1.0-56-amd64", "6.1.0-56-amd64");

    /// <summary>Debian 12's backports kernel (.ko.xz modules; newer than makedumpfile 1.7.2 knows).</summary>
    public static TestKernel Debian612 { get; } = new("linux-image-6.12.117+deb12-amd64-unsigned", "6.12.117+deb12-amd64");

    public static IReadOnlyList<TestKernel> All { get; } = [Debian61, Debian612];

    /// <summary>The test cache, shared with scripts/setup.sh.</summary>
    public static string CacheRoot { get; } =
        Environment.GetEnvironmentVariable("KDS_CACHE") is { Length: > 0 } cache ? cache : "/var/cache/kdumpsharp-test";

    /// <summary>The unpacked package.</summary>
    public string Root => Path.Combine(CacheRoot, "kernels", Package, "root");

    public string Vmlinuz => Path.Combine(Root, "boot", $"vmlinuz-{Release}");

    public string SystemMap => Path.Combine(Root, "boot", $"System.map-{Release}");

    public string Config => Path.Combine(Root, "boot", $"config-{Release}");

    /// <summary>lib/modules/&lt;release&gt;.</summary>
    public string ModulesDirectory => Path.Combine(Root, "lib", "modules", Release);

    /// <summary>Whether the package, its modules.dep and the host tools are all in place.</summary>
    public bool IsInstalled =>
        File.Exists(Path.Combine(CacheRoot, "kernels", Package, ".complete"))
        && File.Exists(Vmlinuz) && File.Exists(SystemMap) && File.Exists(Config)
        && File.Exists(Path.Combine(ModulesDirectory, "modules.dep"))
        && HostSetup.ToolsPresent;

    /// <summary>Runs scripts/setup.sh (idempotent) unless everything is present already.</summary>
    public TestKernel EnsureInstalled()
    {
        HostSetup.Ensure(() => IsInstalled, $"kernel package {Package}");
        return this;
    }

    /// <summary>NUnit shows fixture arguments with ToString; the release is what tells them apart.</summary>
    public override string ToString() => Release;
}
