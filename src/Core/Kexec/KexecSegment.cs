using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// One piece of a kexec image: <c>struct kexec_segment</c> from include/uapi/linux/kexec.h
/// (buf, bufsz, mem, memsz). The kernel copies <see cref="Buffer"/> to <see cref="Destination"/>
/// and zero-fills up to <see cref="MemorySize"/>; both the destination and its end must be
/// page-aligned (kernel/kexec.c sanity_check_segment_list).
/// </summary>
public sealed record KexecSegment(ReadOnlyMemory<byte> Buffer, PhysicalAddress Destination, ulong MemorySize)
{
    public PhysicalAddress End => new(Destination.Value + MemorySize);
}
