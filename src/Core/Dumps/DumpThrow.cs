using System.Diagnostics.CodeAnalysis;

namespace KdumpSharp.Dumps;

/// <summary>The one place the kdump-compressed, flattened and native readers raise format errors.</summary>
internal static class DumpThrow
{
    [DoesNotReturn]
    public static void Corrupt(string source, string problem, long? offset = null) =>
        throw new DumpFormatException(source, problem, offset);

    [DoesNotReturn]
    public static void Unrecognized(string source, string problem) =>
        throw new UnrecognizedDumpException(source, problem);
}
