using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace KdumpSharp.Compression;

/// <summary>
/// Checks once per library that a codec's shared object loads, so a missing library surfaces as a
/// <see cref="CompressionUnavailableException"/> when the codec is created, never as a
/// DllNotFoundException from inside a [LibraryImport] call.
/// </summary>
internal static class NativeCodecLibrary
{
    private static readonly ConcurrentDictionary<string, bool> Loaded = new(StringComparer.Ordinal);

    public static void Require(PageCompression compression, string library, string package)
    {
        // The handle is deliberately never freed: the source-generated stubs bind the same soname
        // on their first call, and the library stays loaded for the life of the process anyway.
        bool ok = Loaded.GetOrAdd(library, static name =>
            NativeLibrary.TryLoad(name, typeof(NativeCodecLibrary).Assembly, null, out _));
        if (!ok)
            throw new CompressionUnavailableException(compression, library, package);
    }
}
