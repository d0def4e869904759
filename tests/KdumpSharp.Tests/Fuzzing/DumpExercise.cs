using KdumpSharp.Analysis;
using KdumpSharp.Dumps;
using KdumpSharp.IO;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Fuzzing;

/// <summary>
/// Opens a (possibly corrupt) dump from memory and touches everything a command would: container
/// properties, notes, VMCOREINFO, page states, page data and kernel virtual reads. The only
/// exceptions it lets out are the typed ones the CLI renders as one line.
/// </summary>
internal static class DumpExercise
{
    public static readonly Type[] ExpectedFailures = [typeof(DumpFormatException), typeof(UnrecognizedDumpException), typeof(MemoryFaultException), typeof(KernelDataException)];

    /// <summary>Returns null when the dump was read to the end, or the typed exception that stopped it.</summary>
    public static Exception? Run(byte[] file, ulong[] virtualProbes)
    {
        try
        {
            using KernelDump dump = new(DumpFile.Open(new MemorySource("fuzz.vmcore", file), FuzzLimits));
            _ = dump.Reader.Properties;
            _ = dump.Reader.Notes.Count;
            _ = dump.Reader.Vmcoreinfo?.OsRelease;
            PhysicalMemory memory = dump.Reader.Memory;
            byte[] page = new byte[PageFrameNumber.PageSize];
            // A mutated size can describe terabytes of excluded memory legitimately; sample each range evenly.
            foreach (PhysicalRange range in memory.Ranges.Take(64))
            {
                ulong first = range.Start.Frame.Value, last = (range.End.Value - 1) >> PageFrameNumber.PageShift;
                ulong step = Math.Max(1, (last - first) / 2000);
                for (ulong pfn = first; pfn <= last && pfn >= first; pfn += step)
                {
                    memory.GetPageState(new PageFrameNumber(pfn));
                    memory.ReadPage(new PageFrameNumber(pfn), page);
                }
            }
            foreach (ulong va in virtualProbes)
            {
                try
                {
                    dump.Virtual.ReadUInt64(va);
                }
                catch (MemoryFaultException)
                {
                }
            }
            if (dump.Reader.Vmcoreinfo is not null)
                _ = KernelLog.Read(dump.Virtual, dump.Vmcoreinfo, FuzzLimits).Records.Count;
            _ = DumpSummary.Build(dump);
            return null;
        }
        catch (Exception e) when (ExpectedFailures.Contains(e.GetType()))
        {
            return e;
        }
    }

    /// <summary>Tight caps so a mutated count that slips past validation still stays small.</summary>
    public static readonly DumpLimits FuzzLimits = new()
    {
        MaxProgramHeaders = 4096,
        MaxNotesBytes = 1 << 20,
        MaxNotes = 4096,
        MaxLogRecords = 100_000,
        MaxLogBufferBytes = 16 << 20,
        MaxPageFrames = 1UL << 24,
        MaxFlattenedRecords = 1 << 20,
    };
}
