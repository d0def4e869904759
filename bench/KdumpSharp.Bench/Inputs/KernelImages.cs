using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench.Inputs;

/// <summary>The stripped vmlinux inside a bzImage, kept beside the debuginfo one (<see cref="DebugInfo"/>) for crash to try.</summary>
internal static class KernelImages
{
    /// <summary>The stripped vmlinux inside <paramref name="vmlinuz"/>, extracted on first use.</summary>
    public static string StrippedVmlinux(string release, string vmlinuz)
    {
        string target = Path.Combine(DebugInfo.Directory(release), $"vmlinux-{release}.from-bzimage");
        if (File.Exists(target))
            return target;
        System.IO.Directory.CreateDirectory(DebugInfo.Directory(release));
        return BzImage.ExtractVmlinux(vmlinuz, target);
    }
}
