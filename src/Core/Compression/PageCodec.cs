namespace KdumpSharp.Compression;

/// <summary>
/// Compresses and decompresses single pages. An instance keeps scratch buffers and native
/// contexts between calls and is not thread-safe: use one per thread (creation is cheap).
/// </summary>
public abstract class PageCodec : IDisposable
{
    public abstract PageCompression Kind { get; }

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/>. Returns false when the
    /// compressed form would not be smaller than the source, or does not fit the destination; the
    /// caller then stores the page raw, as makedumpfile does.
    /// </summary>
    public abstract bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written);

    /// <summary>
    /// Decodes <paramref name="source"/> into <paramref name="destination"/>. Returns true only when the
    /// data is well formed and decodes to exactly <c>destination.Length</c> bytes. Never writes past the
    /// destination; on false its contents are unspecified.
    /// </summary>
    public abstract bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination);

    /// <summary>
    /// Creates a codec. Throws <see cref="CompressionUnavailableException"/> when its native library is missing.
    /// <paramref name="level"/> tunes speed against size where the codec has such a knob: zstd's
    /// compression level (negative levels are its fast modes), LZ4's acceleration (1 and up). Null
    /// keeps the codec's default; the other codecs ignore it. Decoding never depends on it.
    /// </summary>
    public static PageCodec Create(PageCompression compression, int? level = null) => compression switch
    {
        PageCompression.None => new RawPageCodec(),
        PageCompression.Zlib => new ZlibPageCodec(),
        PageCompression.Lzo => new LzoPageCodec(),
        PageCompression.Snappy => new SnappyPageCodec(),
        PageCompression.Zstd => new ZstdPageCodec(level ?? ZstdPageCodec.DefaultLevel),
        PageCompression.Lz4 => new Lz4PageCodec(level ?? Lz4PageCodec.DefaultAcceleration),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "unknown page compression"),
    };

    /// <summary>The lower-case name used in messages and <see cref="Dumps.DumpProperties.Compression"/>.</summary>
    public static string DisplayName(PageCompression compression) => compression switch
    {
        PageCompression.None => "none",
        PageCompression.Zlib => "zlib",
        PageCompression.Lzo => "lzo",
        PageCompression.Snappy => "snappy",
        PageCompression.Zstd => "zstd",
        PageCompression.Lz4 => "lz4",
        _ => compression.ToString(),
    };

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) { }
}

/// <summary>Uncompressed pages: nothing is ever smaller, and decoding is a copy of exactly one page.</summary>
internal sealed class RawPageCodec : PageCodec
{
    public override PageCompression Kind => PageCompression.None;

    public override bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        written = 0;
        return false;
    }

    public override bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.Length != destination.Length)
            return false;
        source.CopyTo(destination);
        return true;
    }
}
