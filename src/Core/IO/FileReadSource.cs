using Microsoft.Win32.SafeHandles;

namespace KdumpSharp.IO;

/// <summary>
/// A dump read with pread(2) instead of a memory map. kds-capture reads /proc/vmcore this way:
/// touching a hardware-poisoned page through a mapping kills the process with SIGBUS, while
/// pread returns EIO, which the reader records as one unreadable page before going on.
/// </summary>
public sealed class FileReadSource : DumpSource
{
    private readonly SafeFileHandle _handle;

    public FileReadSource(string path)
    {
        Name = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Length = RandomAccess.GetLength(_handle);
    }

    public override string Name { get; }

    /// <summary>The open file, for kds-capture's mapped reading (<see cref="Capture.CaptureOptions.Mmap"/>).</summary>
    internal SafeFileHandle Handle => _handle;

    /// <summary>Whether the file lives on procfs, as /proc/vmcore does (fstatfs f_type PROC_SUPER_MAGIC).</summary>
    internal unsafe bool IsOnProcFs
    {
        get
        {
            byte* statfs = stackalloc byte[Interop.LibC.StatfsSize];
            return Interop.LibC.Fstatfs((int)_handle.DangerousGetHandle(), statfs) == 0 && *(long*)statfs == Interop.LibC.PROC_SUPER_MAGIC;
        }
    }
    public override long Length { get; }

    /// <summary>Reads what is there; an I/O error (EIO from poisoned memory) surfaces as <see cref="IOException"/>.</summary>
    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset >= Length)
            return 0;
        int total = 0;
        while (total < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[total..], offset + total);
            if (n == 0)
                break;
            total += n;
        }
        return total;
    }

    public override void Dispose() => _handle.Dispose();
}
