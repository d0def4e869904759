using KdumpSharp.Kernel;

namespace KdumpSharp.Dumps;

/// <summary>
/// What a capture recorded about itself beside the memory: the kernel log as it saved it, its own
/// log and timings, who captured what, and what it left out. KdumpSharp's native format carries
/// all of it; other formats carry none, so callers test for the interface.
/// </summary>
public interface ICaptureMetadata
{
    /// <summary>Hosts, tool and kernels; fields are null when the capture did not record them.</summary>
    CaptureIdentity Identity { get; }

    /// <summary>
    /// The crashed kernel's log as text (what vmcore-dmesg prints), saved before any page, or null when
    /// the dump has none. Throws <see cref="DumpFormatException"/> if it is there but damaged.
    /// </summary>
    ReadOnlyMemory<byte>? Dmesg { get; }

    /// <summary>The capture tool's own log, or null. Throws <see cref="DumpFormatException"/> if damaged.</summary>
    string? CaptureLog { get; }

    /// <summary>Pages by what happened to them, or null when the writer did not finish (the counts come last).</summary>
    PageCounts? PageCounts { get; }

    /// <summary>How long each step of the capture took; empty when the writer did not finish.</summary>
    IReadOnlyList<CaptureTiming> Timings { get; }
}

/// <summary>Who captured the dump, with what, and from which kernel.</summary>
public sealed record CaptureIdentity
{
    public static CaptureIdentity Unknown { get; } = new();

    /// <summary>Hostname of the machine that ran the capture.</summary>
    public string? Hostname { get; init; }

    /// <summary>The tool and its version, e.g. "kds-capture 0.1.0".</summary>
    public string? Tool { get; init; }

    /// <summary>Release of the kernel the capture ran on (the crash kernel's uname -r).</summary>
    public string? CaptureKernelRelease { get; init; }

    /// <summary>The crashed kernel's utsname, when the capture read it.</summary>
    public UtsName? CrashedKernel { get; init; }

    /// <summary>When the capture started (millisecond precision).</summary>
    public DateTimeOffset? CaptureStarted { get; init; }
}

/// <summary>One step of a capture and when it ran, relative to the capture start.</summary>
public sealed record CaptureTiming(string Step, TimeSpan Start, TimeSpan Duration);

/// <summary>Why a page was left out of a dump: makedumpfile's page classes (dump level bits).</summary>
public enum ExclusionReason
{
    /// <summary>Filtered for a reason the dump does not record (e.g. converted from another format).</summary>
    Other,

    /// <summary>Page cache that is not private (dump level bit 2).</summary>
    Cache,

    /// <summary>Private page cache (dump level bit 4).</summary>
    PrivateCache,

    /// <summary>User process data (dump level bit 8).</summary>
    User,

    /// <summary>Free pages (dump level bit 16).</summary>
    Free,

    /// <summary>Hardware-poisoned pages (always excluded).</summary>
    HwPoison,

    /// <summary>Offline pages: balloons, hot-unplugged memory (always excluded).</summary>
    Offline,
}

/// <summary>Pages of a dump by what happened to them. Zero pages read back as zeros and are not exclusions.</summary>
public sealed record PageCounts
{
    /// <summary>Pages whose bytes are stored.</summary>
    public long Stored { get; init; }

    /// <summary>All-zero pages, recorded but not stored.</summary>
    public long Zero { get; init; }

    /// <summary>Pages with the same bytes as an earlier stored page, recorded as a reference to it.</summary>
    public long Copies { get; init; }

    public long Cache { get; init; }
    public long PrivateCache { get; init; }
    public long User { get; init; }
    public long Free { get; init; }
    public long HwPoison { get; init; }
    public long Offline { get; init; }

    /// <summary>Excluded for a reason the dump does not name.</summary>
    public long OtherExcluded { get; init; }

    /// <summary>Pages the capture could not read.</summary>
    public long ReadErrors { get; init; }

    /// <summary>RAM pages the writer was never given (the capture stopped early).</summary>
    public long NotCaptured { get; init; }

    public long Excluded => Cache + PrivateCache + User + Free + HwPoison + Offline + OtherExcluded;

    public long Total => Stored + Zero + Copies + Excluded + ReadErrors + NotCaptured;

    /// <summary>The count for one exclusion reason.</summary>
    public long ExcludedFor(ExclusionReason reason) => reason switch
    {
        ExclusionReason.Cache => Cache,
        ExclusionReason.PrivateCache => PrivateCache,
        ExclusionReason.User => User,
        ExclusionReason.Free => Free,
        ExclusionReason.HwPoison => HwPoison,
        ExclusionReason.Offline => Offline,
        _ => OtherExcluded,
    };
}
