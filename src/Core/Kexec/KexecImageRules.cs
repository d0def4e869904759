using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// The checks kernel/kexec_core.c sanity_check_segment_list applies, run before the syscall so a
/// bad image fails with our message instead of a bare EINVAL/EADDRNOTAVAIL.
/// </summary>
public static class KexecImageRules
{
    public static void Check(KexecImage image, PhysicalRange? crashRegion)
    {
        IReadOnlyList<KexecSegment> s = image.Segments;
        if (s.Count == 0 || s.Count > KexecImage.MaxSegments)
            throw new KexecException($"image has {s.Count} segments; kexec_load takes 1 to {KexecImage.MaxSegments}");
        for (int i = 0; i < s.Count; i++)
        {
            if (s[i].Destination.PageOffset != 0 || s[i].MemorySize % PageFrameNumber.PageSize != 0 || s[i].MemorySize == 0)
                throw new KexecException($"segment {i} at {s[i].Destination} (memsz 0x{s[i].MemorySize:x}) is not page-aligned");
            if ((ulong)s[i].Buffer.Length > s[i].MemorySize)
                throw new KexecException($"segment {i} has 0x{s[i].Buffer.Length:x} bytes for 0x{s[i].MemorySize:x} of memory");
            if (crashRegion is PhysicalRange region && (s[i].Destination < region.Start || s[i].End > region.End))
                throw new KexecException($"segment {i} [{s[i].Destination}, {s[i].End}) lies outside the crash region {region}");
            for (int j = 0; j < i; j++)
                if (s[i].Destination < s[j].End && s[j].Destination < s[i].End)
                    throw new KexecException($"segments {j} and {i} overlap");
        }
        if (!s.Any(x => image.Entry >= x.Destination.Value && image.Entry < x.End.Value))
            throw new KexecException($"entry 0x{image.Entry:x} is in no segment");
    }
}
