using System.Globalization;
using KdumpSharp.Initramfs;
using KdumpSharp.Kexec;

namespace KdumpSharp.Loader;

/// <summary>crash load without --initrd: the capture initramfs is built from capture.conf (or reused from the cache).</summary>
public static class CrashInitramfsStep
{
    /// <summary>Builds or reuses the image and returns the options with it as the initramfs and its required parameters.</summary>
    public static LoadOptions Prepare(LoadOptions options, string? captureDirectory, SystemRoot root, TextWriter output)
    {
        string capture = CrashInitramfsSources.FindCaptureDirectory(captureDirectory, AppContext.BaseDirectory, root);
        CrashInitramfsRequest request = CrashInitramfsSources.FromSystem(root, capture);
        CachedCrashInitramfs image = CrashInitramfsCache.GetOrBuild(request, root.Resolve(CrashInitramfsCache.DefaultDirectory));
        string size = string.Create(CultureInfo.InvariantCulture, $"{image.Bytes / 1e6:0.0} MB");
        output.WriteLine($"crash initramfs: {(image.Reused ? "reused" : "built")} {image.Path} ({size}; kds-capture from {capture}, " +
            $"target {request.Configuration.Target}, modules {string.Join(' ', request.Modules)})");
        foreach (string removed in image.Removed)
            output.WriteLine($"crash initramfs: removed superseded {removed}");
        return options with { Initrd = image.Path, Required = CrashInitramfsBuilder.RequiredCommandLine };
    }
}
