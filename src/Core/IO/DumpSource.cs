using KdumpSharp.Dumps;

namespace KdumpSharp.IO;

/// <summary>
/// Random-access bytes of a dump: a memory-mapped file, an in-memory buffer, or a reassembled
/// view of a flattened stream. Readers never assume the whole file fits in memory.
/// </summary>
public abstract class DumpSource : IDisposable
{
    /// <summary>The name used in error messages (usually the path).</summary>
    public abstract string Name { get; }

    public abstract long Length { get; }

    /// <summary>Copies up to destination.Length bytes from <paramref name="offset"/>; returns how many
    /// were available (fewer only at the end of the source, 0 past it).</summary>
    public abstract int ReadAt(long offset, Span<byte> destination);

    /// <summary>Reads exactly destination.Length bytes, or throws a <see cref="DumpFormatException"/> naming what was cut off.</summary>
    public void ReadExactly(long offset, Span<byte> destination, string what)
    {
        if (offset < 0 || ReadAt(offset, destination) != destination.Length)
            throw new DumpFormatException(Name, $"file is truncated: {what} needs {destination.Length} bytes, the file has {Math.Max(0, Length - Math.Max(0, offset))}", offset);
    }

    public abstract void Dispose();
}

/// <summary>A source over bytes already in memory (tests, small files).</summary>
public sealed class MemorySource(string name, ReadOnlyMemory<byte> bytes) : DumpSource
{
    public override string Name => name;
    public override long Length => bytes.Length;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= bytes.Length)
            return 0;
        int count = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.Span.Slice((int)offset, count).CopyTo(destination);
        return count;
    }

    public override void Dispose() { }
}
