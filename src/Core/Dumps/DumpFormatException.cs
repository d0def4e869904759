namespace KdumpSharp.Dumps;

/// <summary>
/// A dump file is truncated, corrupt, or not a dump at all. The message names the file, what was
/// wrong and, where known, the byte offset, so the CLI can print it as one line.
/// </summary>
public class DumpFormatException : Exception
{
    public DumpFormatException(string source, string problem, long? offset = null)
        : base(offset is long o ? $"{source}: {problem} (at offset 0x{o:x})" : $"{source}: {problem}")
    {
        Source = source;
        Problem = problem;
        Offset = offset;
    }

    /// <summary>The file (or stream) name.</summary>
    public new string Source { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }

    /// <summary>Where in the file, when known.</summary>
    public long? Offset { get; }
}

/// <summary>The input is a file we recognise, or cannot recognise, but not a dump we read.</summary>
public sealed class UnrecognizedDumpException(string source, string problem) : DumpFormatException(source, problem);
