using System.Runtime.InteropServices;
using System.Text;
using KdumpSharp.Compression;

namespace KdumpSharp.Tests.Compression;

public sealed partial class PageCodecTests
{
    private const int PageSize = 4096;

    private static readonly PageCompression[] Compressors =
        [PageCompression.Zlib, PageCompression.Lzo, PageCompression.Snappy, PageCompression.Zstd, PageCompression.Lz4];

    /// <summary>A page like kernel memory: some text, some pointers, long zero runs.</summary>
    internal static byte[] CompressiblePage(int seed = 1)
    {
        var page = new byte[PageSize];
        var random = new Random(seed);
        byte[] text = Encoding.ASCII.GetBytes($"<6>[    0.{seed:000000}] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n");
        for (int at = 0; at + text.Length < 2048; at += text.Length + 8)
            text.CopyTo(page, at);
        for (int at = 2048; at < 3072; at += 8)
            BitConverter.TryWriteBytes(page.AsSpan(at), 0xffff888000000000UL + (ulong)random.Next(0, 1 << 20) * 64);
        return page;
    }

    internal static byte[] RandomPage(int seed = 7)
    {
        var page = new byte[PageSize];
        new Random(seed).NextBytes(page);
        return page;
    }

    [TestCaseSource(nameof(Compressors))]
    public void Compressible_page_round_trips_and_is_smaller(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        byte[] page = CompressiblePage();
        var compressed = new byte[PageSize];

        Assert.That(codec.TryCompress(page, compressed, out int written), Is.True);
        Assert.That(written, Is.InRange(1, PageSize - 1));

        var decoded = new byte[PageSize];
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written), decoded), Is.True);
        Assert.That(decoded, Is.EqualTo(page));
    }

    [TestCase(PageCompression.Lz4, 1)]
    [TestCase(PageCompression.Lz4, 64)]
    [TestCase(PageCompression.Zstd, -5)]
    [TestCase(PageCompression.Zstd, 19)]
    public void Every_level_decodes_with_a_default_codec(PageCompression kind, int level)
    {
        using PageCodec encoder = PageCodec.Create(kind, level);
        using PageCodec decoder = PageCodec.Create(kind);
        byte[] page = CompressiblePage(3);
        var compressed = new byte[PageSize];
        Assert.That(encoder.TryCompress(page, compressed, out int written), Is.True);
        var decoded = new byte[PageSize];
        Assert.That(decoder.TryDecompress(compressed.AsSpan(0, written), decoded), Is.True);
        Assert.That(decoded, Is.EqualTo(page));
    }

    [TestCaseSource(nameof(Compressors))]
    public void Incompressible_page_is_refused_so_it_is_stored_raw(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        Assert.That(codec.TryCompress(RandomPage(), new byte[2 * PageSize], out int written), Is.False);
        Assert.That(written, Is.Zero);
    }

    [TestCaseSource(nameof(Compressors))]
    public void Output_that_does_not_fit_the_destination_is_refused(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        Assert.That(codec.TryCompress(CompressiblePage(), new byte[16], out _), Is.False);
    }

    [TestCaseSource(nameof(Compressors))]
    public void Data_for_a_larger_page_is_refused_without_writing_past_the_buffer(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        byte[] big = [.. CompressiblePage(1), .. CompressiblePage(2)];
        var compressed = new byte[2 * PageSize];
        Assert.That(codec.TryCompress(big, compressed, out int written), Is.True);

        byte[] buffer = new byte[PageSize + 64];
        buffer.AsSpan(PageSize).Fill(0xa5);
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written), buffer.AsSpan(0, PageSize)), Is.False);
        Assert.That(buffer.AsSpan(PageSize).ToArray(), Is.All.EqualTo(0xa5));
    }

    [TestCaseSource(nameof(Compressors))]
    public void Data_for_a_smaller_page_is_refused(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        byte[] half = CompressiblePage().AsSpan(0, PageSize / 2).ToArray();
        var compressed = new byte[PageSize];
        Assert.That(codec.TryCompress(half, compressed, out int written), Is.True);
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written), new byte[PageSize]), Is.False);
    }

    [TestCaseSource(nameof(Compressors))]
    public void Truncated_data_is_refused(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        var compressed = new byte[PageSize];
        Assert.That(codec.TryCompress(CompressiblePage(), compressed, out int written), Is.True);
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written - 1), new byte[PageSize]), Is.False);
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written / 2), new byte[PageSize]), Is.False);
    }

    [TestCaseSource(nameof(Compressors))]
    public void Garbage_is_refused(PageCompression kind)
    {
        using PageCodec codec = PageCodec.Create(kind);
        Assert.That(codec.TryDecompress(RandomPage().AsSpan(0, 1000), new byte[PageSize]), Is.False);
        Assert.That(codec.TryDecompress([], new byte[PageSize]), Is.False);
    }

    [Test]
    public void Zlib_with_a_wrong_checksum_is_refused()
    {
        using PageCodec codec = PageCodec.Create(PageCompression.Zlib);
        var compressed = new byte[PageSize];
        Assert.That(codec.TryCompress(CompressiblePage(), compressed, out int written), Is.True);
        compressed[written - 1] ^= 1;
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written), new byte[PageSize]), Is.False);
    }

    [Test]
    public void Zlib_with_trailing_bytes_is_refused()
    {
        using PageCodec codec = PageCodec.Create(PageCompression.Zlib);
        var compressed = new byte[PageSize];
        Assert.That(codec.TryCompress(CompressiblePage(), compressed, out int written), Is.True);
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, written + 4), new byte[PageSize]), Is.False);
    }

    [Test]
    public void Zlib_output_is_what_libz_uncompress_reads_and_has_the_level_1_header()
    {
        using PageCodec codec = PageCodec.Create(PageCompression.Zlib);
        byte[] page = CompressiblePage();
        var compressed = new byte[PageSize];
        Assert.That(codec.TryCompress(page, compressed, out int written), Is.True);

        // RFC 1950: CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (FLEVEL 0 = fastest, FCHECK).
        Assert.That(compressed[..2], Is.EqualTo(new byte[] { 0x78, 0x01 }));
        var decoded = new byte[PageSize];
        nuint decodedLength = PageSize;
        Assert.That(LibZ.uncompress(decoded, ref decodedLength, compressed, (nuint)written), Is.Zero);
        Assert.That((int)decodedLength, Is.EqualTo(PageSize));
        Assert.That(decoded, Is.EqualTo(page));
    }

    [Test]
    public void Zlib_reads_what_libz_compress2_level_1_writes()
    {
        byte[] page = CompressiblePage(3);
        var compressed = new byte[2 * PageSize];
        nuint length = (nuint)compressed.Length;
        Assert.That(LibZ.compress2(compressed, ref length, page, PageSize, 1), Is.Zero);

        using PageCodec codec = PageCodec.Create(PageCompression.Zlib);
        var decoded = new byte[PageSize];
        Assert.That(codec.TryDecompress(compressed.AsSpan(0, (int)length), decoded), Is.True);
        Assert.That(decoded, Is.EqualTo(page));
    }

    [Test]
    public void None_copies_exactly_one_page_and_never_compresses()
    {
        using PageCodec codec = PageCodec.Create(PageCompression.None);
        byte[] page = CompressiblePage();
        var decoded = new byte[PageSize];
        Assert.That(codec.TryCompress(page, new byte[PageSize], out _), Is.False);
        Assert.That(codec.TryDecompress(page, decoded), Is.True);
        Assert.That(decoded, Is.EqualTo(page));
        Assert.That(codec.TryDecompress(page.AsSpan(1), decoded), Is.False);
    }

    [Test]
    public void A_missing_library_is_a_typed_error_naming_library_and_package()
    {
        var e = Assert.Throws<CompressionUnavailableException>(() =>
            NativeCodecLibrary.Require(PageCompression.Zstd, "libkdumpsharp-missing.so.1", "libzstd1"));
        Assert.That(e!.Message, Is.EqualTo("zstd pages need libkdumpsharp-missing.so.1; apt install libzstd1"));
        Assert.That(e.Library, Is.EqualTo("libkdumpsharp-missing.so.1"));
        Assert.That(e.Compression, Is.EqualTo(PageCompression.Zstd));
    }

    [Test]
    public void Adler32_matches_the_rfc_1950_reference_value()
    {
        // "Wikipedia" is the usual worked example: 0x11E60398.
        Assert.That(ZlibPageCodec.Adler32("Wikipedia"u8), Is.EqualTo(0x11E60398u));
        Assert.That(ZlibPageCodec.Adler32(new byte[100_000].AsSpan()), Is.EqualTo(((100_000u % 65521) << 16) | 1));
    }

    /// <summary>The system zlib that makedumpfile and crash link, to check interoperability.</summary>
    private static partial class LibZ
    {
        [LibraryImport("libz.so.1")]
        public static partial int compress2(byte[] dest, ref nuint destLen, byte[] source, nuint sourceLen, int level);

        [LibraryImport("libz.so.1")]
        public static partial int uncompress(byte[] dest, ref nuint destLen, byte[] source, nuint sourceLen);
    }
}
