using System.Text;
using KdumpSharp.Architecture;
using KdumpSharp.Filtering;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Native;

public sealed partial class NativeDumpWriter
{
    private const int CancellationInterval = 4096;

    /// <summary>
    /// Writes any dump in the native format: its RAM ranges and notes (re-serialised in the kernel's
    /// layout, plus a VMCOREINFO note if the source has VMCOREINFO without one), every page with its
    /// state (present, excluded, unreadable; lost pages become NotCaptured and the result incomplete),
    /// and what the source recorded about its capture when it is itself a native dump. With
    /// <see cref="NativeDumpWriterOptions.AllowCopies"/>, a page that repeats an earlier one is stored as a copy. Otherwise the
    /// dmesg is read from the source's memory, as the capture would save it, when the kernel's log can
    /// be found; the identity records the crashed kernel's utsname. <paramref name="options"/>'
    /// identity and dump level, when set, win over the source's.
    /// </summary>
    public static NativeWriteResult Write(IDumpReader source, Stream output, NativeDumpWriterOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= NativeDumpWriterOptions.Default;
        var metadata = source as ICaptureMetadata;
        CaptureIdentity identity = options.Identity != CaptureIdentity.Unknown ? options.Identity
            : metadata?.Identity ?? CaptureIdentity.Unknown;
        if (identity.CrashedKernel is null)
            identity = identity with { CrashedKernel = UtsName.Find(source) };
        options = options with { Identity = identity, DumpLevel = options.DumpLevel ?? source.Properties.DumpLevel };

        PhysicalMemory memory = source.Memory;
        using var writer = new NativeDumpWriter(output, memory.Ranges, SerializeNotes(source), options);
        if ((metadata?.Dmesg ?? ReadDmesg(source)) is ReadOnlyMemory<byte> dmesg)
            writer.WriteDmesg(dmesg.Span);
        if (metadata?.CaptureLog is string log)
            writer.AppendCaptureLog(log);

        var native = memory as NativePhysicalMemory;
        using DuplicatePageIndex? copies = options.AllowCopies ? new DuplicatePageIndex(RamPages(memory.Ranges)) : null;
        var page = new byte[PageFrameNumber.PageSize];
        long visited = 0, lost = 0;
        ulong firstLost = 0;
        foreach ((ulong first, ulong end) in NativePhysicalMemory.FrameRuns(memory.Ranges))
        {
            for (ulong pfn = first; pfn < end; pfn++)
            {
                if ((visited++ & (CancellationInterval - 1)) == 0)
                    cancellationToken.ThrowIfCancellationRequested();
                var frame = new PageFrameNumber(pfn);
                switch (memory.ReadPage(frame, page))
                {
                    case PageState.Present when copies is null:
                        writer.AddPage(frame, page);
                        break;
                    case PageState.Present when ZeroPage.IsZero(page):
                        writer.AddZeroPages(frame, 1);
                        break;
                    case PageState.Present:
                        writer.AddNonZero(frame, page, DuplicatePageIndex.Fingerprint(page), copies, memory);
                        break;
                    case PageState.Excluded:
                        writer.AddExcluded(frame, 1, native?.ExclusionReasonOf(frame) ?? ExclusionReason.Other);
                        break;
                    case PageState.Unreadable:
                        writer.AddReadError(frame, 1);
                        break;
                    case PageState.NotInDump:
                        // A RAM page the source's container has no place for (a kdump file's 1st bitmap
                        // narrower than its ranges): it was left out, not lost.
                        writer.AddExcluded(frame, 1, ExclusionReason.Other);
                        break;
                    default:
                        // Lost: left undescribed, so it is recorded NotCaptured.
                        if (lost++ == 0)
                            firstLost = pfn;
                        break;
                }
            }
        }
        string? incomplete = source.Properties.IsIncomplete
            ? $"the source dump was incomplete: {source.Properties.IncompleteReason ?? "its container says so"}"
            : lost > 0 ? $"the source dump had lost {lost} pages (the first at pfn 0x{firstLost:x})" : null;
        return writer.Complete(metadata?.Timings, incomplete);
    }

    /// <summary>The RAM pages of <paramref name="ranges"/>: every page they touch.</summary>
    public static ulong RamPages(IReadOnlyList<PhysicalRange> ranges) =>
        NativePhysicalMemory.FrameRuns(ranges).Aggregate(0UL, (sum, r) => sum + (r.End - r.First));

    /// <summary>The source's notes in the kernel's layout (fs/proc/vmcore.c keeps them verbatim; so do we).</summary>
    internal static byte[] SerializeNotes(IDumpReader source)
    {
        using var blob = new MemoryStream();
        foreach (ElfNote note in source.Notes)
            ElfNote.Write(blob, note.Name, note.Type, note.Descriptor.Span);
        if (!source.Notes.Any(n => n.IsVmcoreinfo) && source.Vmcoreinfo is Vmcoreinfo info)
            ElfNote.Write(blob, "VMCOREINFO", ElfNote.NtVmcoreinfo, Encoding.ASCII.GetBytes(info.Text));
        return blob.ToArray();
    }

    /// <summary>The kernel log as vmcore-dmesg prints it, or null when the source's memory does not yield one.</summary>
    private static ReadOnlyMemory<byte>? ReadDmesg(IDumpReader source)
    {
        if (source.Vmcoreinfo is not Vmcoreinfo info)
            return null;
        try
        {
            KernelLog log = KernelLog.Read(new X86_64VirtualMemory(source.Memory, info), info, DumpLimits.Default);
            using var text = new MemoryStream();
            DmesgFormatter.Write(text, log.Records);
            return text.ToArray();
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException or DumpFormatException)
        {
            return null;
        }
    }

}
