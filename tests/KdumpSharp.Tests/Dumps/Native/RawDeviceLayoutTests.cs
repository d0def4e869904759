using KdumpSharp.Dumps;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;
using static KdumpSharp.Tests.Dumps.Native.NativeTestSupport;

namespace KdumpSharp.Tests.Dumps.Native;

/// <summary>
/// docs/format.md §10: on a raw device the stream is followed by whatever the device held. The
/// reader opens the device image as it is and finds the same complete dump.
/// </summary>
public sealed class RawDeviceLayoutTests
{
    [TestCase("zeros")]
    [TestCase("leftovers")]
    [TestCase("an older dump")]
    public void A_stream_followed_by_other_bytes_opens_complete_with_every_page(string tail)
    {
        FakeDumpReader source = CompleteSource();
        byte[] stream = Write(source, new NativeDumpWriterOptions { ChunkPages = 4, Parallelism = 1 });
        byte[] after = tail switch
        {
            "zeros" => new byte[1 << 20],
            "leftovers" => Leftovers(),
            _ => Write(source, new NativeDumpWriterOptions { ChunkPages = 8, Parallelism = 1 }),
        };
        byte[] device = [.. stream, .. after];

        using IDumpReader reader = DumpFile.Open(new MemorySource("disk.img", device));

        Assert.That((reader.Properties.Format, reader.Properties.IsIncomplete), Is.EqualTo((DumpFormat.Native, false)));
        foreach (ulong pfn in RamPfns(source))
        {
            byte[] expected = Read(source.Memory, pfn, out PageState expectedState);
            byte[] actual = Read(reader.Memory, pfn, out PageState state);
            Assert.That(state, Is.EqualTo(expectedState), $"pfn 0x{pfn:x}");
            if (state == PageState.Present)
                AssertSamePage(actual, expected, $"pfn 0x{pfn:x}");
        }
    }

    private static byte[] Leftovers()
    {
        byte[] bytes = new byte[256 << 10];
        new Random(10).NextBytes(bytes);
        return bytes;
    }
}
