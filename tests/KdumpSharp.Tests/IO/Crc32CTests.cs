using System.Text;
using KdumpSharp.IO;

namespace KdumpSharp.Tests.IO;

public sealed class Crc32CTests
{
    /// <summary>The check value of the CRC-32C catalogue entry, and RFC 3720 appendix B.4's iSCSI vectors.</summary>
    private static IEnumerable<TestCaseData> Vectors()
    {
        yield return new TestCaseData(Encoding.ASCII.GetBytes("123456789"), 0xE3069283u).SetName("check value 123456789");
        yield return new TestCaseData(new byte[32], 0x8A9136AAu).SetName("RFC 3720 32 bytes of zeros");
        yield return new TestCaseData(Enumerable.Repeat((byte)0xff, 32).ToArray(), 0x62A8AB43u).SetName("RFC 3720 32 bytes of ones");
        yield return new TestCaseData(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), 0x46DD794Eu).SetName("RFC 3720 incrementing");
        yield return new TestCaseData(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray(), 0x113FDB5Cu).SetName("RFC 3720 decrementing");
        yield return new TestCaseData(Array.Empty<byte>(), 0u).SetName("empty");
    }

    [TestCaseSource(nameof(Vectors))]
    public void Known_vectors(byte[] data, uint expected)
    {
        Assert.That(Crc32C.Compute(data), Is.EqualTo(expected));
        Assert.That(Crc32C.ComputeSoftware(data), Is.EqualTo(expected));
    }

    [Test]
    public void Hardware_and_table_paths_agree_on_every_length_and_alignment()
    {
        var data = new byte[4096 + 64];
        new Random(7).NextBytes(data);
        for (int start = 0; start < 9; start++)
            for (int length = 0; length < 300; length++)
                Assert.That(Crc32C.Compute(data.AsSpan(start, length)), Is.EqualTo(Crc32C.ComputeSoftware(data.AsSpan(start, length))), $"start {start}, length {length}");
        Assert.That(Crc32C.Compute(data), Is.EqualTo(Crc32C.ComputeSoftware(data)));
    }

    /// <summary>Lengths around the x86 path's 3 KiB interleaved steps (three 1 KiB lanes joined by shifting).</summary>
    [Test]
    public void Hardware_and_table_paths_agree_across_interleaved_steps()
    {
        var data = new byte[5 * 3072 + 72];
        new Random(11).NextBytes(data);
        foreach (int length in new[] { 3071, 3072, 3073, 3080, 6143, 6144, 6151, 9216 + 17, 5 * 3072 + 63 })
            for (int start = 0; start < 3; start++)
                Assert.That(Crc32C.Compute(data.AsSpan(start, length)), Is.EqualTo(Crc32C.ComputeSoftware(data.AsSpan(start, length))), $"start {start}, length {length}");
        Assert.That(Crc32C.Compute(new byte[3 * 3072]), Is.EqualTo(Crc32C.ComputeSoftware(new byte[3 * 3072])), "zeros");
    }

    [Test]
    public void Append_continues_a_finished_crc()
    {
        var data = new byte[1000];
        new Random(3).NextBytes(data);
        for (int split = 0; split <= data.Length; split += 37)
            Assert.That(Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)), Is.EqualTo(Crc32C.Compute(data)));
    }
}
