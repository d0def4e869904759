using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Dumps.Kdump;

internal static class KdumpTestSupport
{
    public const string VmcoreinfoText =
        "OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a13440\nSYMBOL(init_top_pgt)=ffffffff82a0c000\n" +
        "NUMBER(phys_base)=469762048\nKERNELOFFSET=1000000\nCRASHTIME=1700000123\n";

    /// <summary>RAM at pfns [0, 40) and [100, 164), with pfns 3 and 120 excluded, notes for 2 CPUs and VMCOREINFO.</summary>
    public static KdumpCompressedBuilder Typical() => new KdumpCompressedBuilder()
        .AddRam(0, 40)
        .AddRam(100, 64)
        .Exclude(3)
        .Exclude(120)
        .AddPrStatus(1, 0xffffffff81000010)
        .AddVmcoreinfo(VmcoreinfoText)
        .AddPrStatus(0, 0xffffffff81000020);

    public static KdumpCompressedReader Open(KdumpImage image, DumpLimits? limits = null) =>
        KdumpCompressedReader.Open(new MemorySource("test.kdump", image.Bytes), limits ?? DumpLimits.Default);

    public static byte[] Read(PhysicalMemory memory, ulong pfn, out PageState state)
    {
        var page = new byte[PageFrameNumber.PageSize];
        state = memory.ReadPage(new PageFrameNumber(pfn), page);
        return page;
    }
}

/// <summary>Wraps a source to record how it is used.</summary>
internal sealed class RecordingSource(DumpSource inner) : DumpSource
{
    public long HighestByteRead { get; private set; } = -1;
    public bool Disposed { get; private set; }
    public override string Name => inner.Name;
    public override long Length => inner.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        int n = inner.ReadAt(offset, destination);
        if (n > 0)
            HighestByteRead = Math.Max(HighestByteRead, offset + n - 1);
        return n;
    }

    public override void Dispose()
    {
        Disposed = true;
        inner.Dispose();
    }
}
