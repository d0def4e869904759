namespace KdumpSharp.Kexec;

/// <summary>
/// What <c>kexec_load</c> takes: the segments (at most 16, KEXEC_SEGMENT_MAX) and the physical
/// entry point the kernel jumps to (our purgatory).
/// </summary>
public sealed record KexecImage(IReadOnlyList<KexecSegment> Segments, ulong Entry)
{
    /// <summary>KEXEC_SEGMENT_MAX, include/linux/kexec.h.</summary>
    public const int MaxSegments = 16;
}
