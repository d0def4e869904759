using KdumpSharp.Dumps;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench.Inputs;

/// <summary>A dump the bench times tools on, described by KdumpSharp.Core's own reader.</summary>
/// <param name="Label">How the report names it (kernel release and variant).</param>
/// <param name="Format">The container, as the sniffer found it.</param>
/// <param name="Release">OSRELEASE from VMCOREINFO, or null.</param>
/// <param name="BuildId">BUILD-ID from VMCOREINFO (5.9+), used to match a debuginfo vmlinux; or null.</param>
internal sealed record BenchDump(string Label, string Path, long Bytes, DumpFormat Format, string? Release, string? BuildId)
{
    /// <summary>The bzImage the dumped kernel booted from, when the bench knows it (harness dumps).</summary>
    public string? Vmlinuz { get; init; }

    /// <summary>How the dump was made, for the report (the harness's accelerator, or "given on the command line").</summary>
    public string Origin { get; init; } = "given on the command line";

    public static BenchDump Describe(string path, string? label = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        using IDumpReader reader = DumpFile.Open(full);
        string? release = reader.Vmcoreinfo?.OsRelease;
        return new BenchDump(
            label ?? $"{release ?? "unknown release"} {FormatName(reader.Properties)}",
            full, new FileInfo(full).Length, reader.Properties.Format, release, reader.Vmcoreinfo?.BuildId)
        {
            Vmlinuz = release is null ? null : FindVmlinuz(release),
        };
    }

    /// <summary>The bzImage of <paramref name="release"/>: a harness kernel's, else /boot's; null if neither exists.</summary>
    private static string? FindVmlinuz(string release) =>
        new[] { TestKernel.All.FirstOrDefault(k => k.Release == release)?.Vmlinuz, $"/boot/vmlinuz-{release}" }
            .FirstOrDefault(File.Exists);

    public static string FormatName(DumpProperties p) => p.Format switch
    {
        DumpFormat.Elf => "ELF",
        DumpFormat.KdumpCompressed => $"kdump-compressed ({p.Compression})",
        DumpFormat.Flattened => $"flattened ({p.Compression})",
        _ => p.Format.ToString(),
    };
}
