using KdumpSharp.Compression;
using KdumpSharp.Dumps.Native;

namespace KdumpSharp.Tests.Dumps.Native;

/// <summary>A chunk whose stored pages are mostly bulk memory is compressed with the bulk codec, any other with the kernel codec.</summary>
public class ChunkJobTests
{
    [TestCase(0, false)]
    [TestCase(8, false)]
    [TestCase(9, true)]
    [TestCase(16, true)]
    public void The_majority_of_stored_pages_picks_the_codec(int bulkPages, bool bulkCodec)
    {
        using PageCodec kernel = PageCodec.Create(PageCompression.Lz4, 1);
        using PageCodec bulk = PageCodec.Create(PageCompression.Lz4, 65537);
        ChunkJob job = Filled(bulkPages);

        job.Compress(kernel, bulk, NativeFormat.CodecId(PageCompression.Lz4));

        int kernelLength = LengthWith(kernel), bulkLength = LengthWith(bulk);
        Assert.That(bulkLength, Is.GreaterThan(kernelLength), "the two accelerations must give different sizes on this data");
        Assert.That(job.PayloadLength, Is.EqualTo(bulkCodec ? bulkLength : kernelLength));
    }

    private static int LengthWith(PageCodec codec)
    {
        ChunkJob job = Filled(0);
        job.Compress(codec, codec, NativeFormat.CodecId(PageCompression.Lz4));
        return job.PayloadLength;
    }

    /// <summary>16 pages of words from a small vocabulary: compressible, and LZ4's acceleration changes how much.</summary>
    private static ChunkJob Filled(int bulkPages)
    {
        using var compressor = new ChunkCompressor(PageCompression.Lz4, 1, 1, 16, pool: null, write: _ => { });
        var job = new ChunkJob(16, compressor);
        job.Reset(0x1000);
        var random = new Random(16);
        string[] words = ["page", "frame", "kernel", "panic", "vmcore", "slab", "task", "stack", "dump", "crash"];
        var text = new System.Text.StringBuilder();
        while (text.Length < job.Raw.Length)
            text.Append(words[random.Next(words.Length)]).Append(random.Next(1000)).Append(' ');
        System.Text.Encoding.ASCII.GetBytes(text.ToString(0, job.Raw.Length), job.Raw);
        job.Runs.Add(new PageRun(16, PageKind.Present));
        job.Present = 16;
        job.BulkPresent = bulkPages;
        return job;
    }
}
