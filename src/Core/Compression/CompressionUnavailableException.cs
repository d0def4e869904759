namespace KdumpSharp.Compression;

/// <summary>
/// A page codec needs a native library that is not installed. The message names the library and
/// the Debian package that provides it, e.g. "zstd pages need libzstd.so.1; apt install libzstd1".
/// </summary>
public sealed class CompressionUnavailableException(PageCompression compression, string library, string package)
    : Exception($"{PageCodec.DisplayName(compression)} pages need {library}; apt install {package}")
{
    public PageCompression Compression { get; } = compression;

    /// <summary>The shared object that could not be loaded, e.g. "libzstd.so.1".</summary>
    public string Library { get; } = library;

    /// <summary>The Debian package that provides it.</summary>
    public string Package { get; } = package;
}
