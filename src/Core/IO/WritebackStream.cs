using KdumpSharp.Interop;

namespace KdumpSharp.IO;

/// <summary>
/// A file stream that sends what it wrote to the disk as it goes, a window at a time, instead of
/// leaving it all dirty in the page cache for the final fsync. Each time <see cref="Window"/> more
/// bytes are written, that window's writeback is started (sync_file_range SYNC_FILE_RANGE_WRITE) and
/// the window before it is waited for, so the disk works while the capture compresses, and at most
/// two windows are dirty at once: the crash kernel's little memory is not filled with the dump, and
/// the fsync that commits the file has only the last window left to write. The calls are advice:
/// their errors are left for that fsync to report (fs/sync.c: sync_file_range neither writes metadata
/// nor promises durability).
/// </summary>
internal sealed class WritebackStream(FileStream inner) : Stream
{
    /// <summary>Bytes per writeback window: large enough that the disk sees big writes, small next to a crash kernel's RAM.</summary>
    public const long Window = 8 << 20;

    private long _started;
    private long _waitFrom;

    public override bool CanRead => false;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        WriteBack();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => inner.SetLength(value);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Starts the writeback of every whole window written since the last call and waits for the one before.
    /// A writer that seeks back (makedumpfile's format rewrites its header) only dirties pages again: the fsync covers them.</summary>
    private void WriteBack()
    {
        long end = inner.Position;
        if (end - _started < Window)
            return;
        inner.Flush();
        int fd = (int)inner.SafeFileHandle.DangerousGetHandle();
        long windowEnd = end - end % Window;
        LibC.SyncFileRange(fd, _started, windowEnd - _started, LibC.SYNC_FILE_RANGE_WRITE);
        if (_started > _waitFrom)
            LibC.SyncFileRange(fd, _waitFrom, _started - _waitFrom, LibC.SYNC_FILE_RANGE_WAIT_BEFORE | LibC.SYNC_FILE_RANGE_WRITE | LibC.SYNC_FILE_RANGE_WAIT_AFTER);
        _waitFrom = _started;
        _started = windowEnd;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
