using System.IO.MemoryMappedFiles;
using KdumpSharp.Dumps;

namespace KdumpSharp.IO;

/// <summary>
/// A dump file mapped read-only into memory: opening a multi-gigabyte dump reads only the pages
/// that are touched, and reads are plain memory copies.
/// </summary>
public sealed unsafe class MappedFileSource : DumpSource
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private int _disposed;

    public MappedFileSource(string path)
    {
        Name = path;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
        Length = stream.Length;
        if (Length == 0)
            return;
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public override string Name { get; }
    public override long Length { get; }

    public override int ReadAt(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || offset >= Length)
            return 0;
        int count = (int)Math.Min(destination.Length, Length - offset);
        new ReadOnlySpan<byte>(_base + offset, count).CopyTo(destination);
        return count;
    }

    /// <summary>A zero-copy view of the mapped bytes, valid until disposal. Throws if the range is outside the file.</summary>
    public ReadOnlySpan<byte> GetSpan(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new DumpFormatException(Name, $"file is truncated: {length} bytes needed, the file has {Math.Max(0, Length - Math.Max(0, offset))}", offset);
        return new ReadOnlySpan<byte>(_base + offset, length);
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
