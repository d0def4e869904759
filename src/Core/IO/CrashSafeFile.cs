namespace KdumpSharp.IO;

/// <summary>
/// Writes a file the way a dump must be written: under the name "&lt;path&gt;-incomplete", created
/// exclusively with mode 0600, fsynced, then renamed to the final name without replacing anything
/// there, and the directory fsynced so the rename survives power loss. Until <see cref="Commit"/>
/// the final name never exists, so a reader never mistakes a partial file for a whole one.
/// </summary>
public sealed class CrashSafeFile : IDisposable
{
    public const string IncompleteSuffix = "-incomplete";

    private readonly FileStream _stream;
    private readonly WritebackStream _writeback;
    private bool _committed;

    private CrashSafeFile(string path, FileStream stream)
    {
        FinalPath = path;
        _stream = stream;
        _writeback = new WritebackStream(stream);
    }

    public string FinalPath { get; }
    public string IncompletePath => FinalPath + IncompleteSuffix;

    /// <summary>The stream to write to (buffered; written back to the disk as it goes, <see cref="WritebackStream"/>).</summary>
    public Stream Stream => _writeback;

    /// <summary>
    /// Starts writing <paramref name="path"/>. Throws <see cref="IOException"/> if the final or the
    /// incomplete name already exists: an existing dump is never overwritten.
    /// </summary>
    public static CrashSafeFile Create(string path)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full) || Directory.Exists(full))
            throw new IOException($"{full} already exists; dumps are never overwritten");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            BufferSize = 1 << 20,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        return new CrashSafeFile(full, new FileStream(full + IncompleteSuffix, options));
    }

    /// <summary>ENOSPC or EDQUOT: on Linux .NET reports the errno in HResult.</summary>
    public static bool IsOutOfSpace(IOException e) => e.HResult is 28 or 122 || e.Message.Contains("No space left", StringComparison.Ordinal);

    /// <summary>Flushes to disk, renames to the final name (refusing to replace one) and syncs the directory.</summary>
    public void Commit()
    {
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        // File.Move without overwrite links the new name and unlinks the old one, so an existing
        // file at the destination makes it fail instead of being replaced.
        File.Move(IncompletePath, FinalPath, overwrite: false);
        Interop.LibC.SyncDirectory(Path.GetDirectoryName(FinalPath)!);
        _committed = true;
    }

    /// <summary>Closes the file; if not committed, what was written stays under the incomplete name.</summary>
    public void Dispose()
    {
        if (_committed)
            return;
        try
        {
            _stream.Flush(flushToDisk: true);
        }
        catch (IOException)
        {
            // Out of space: what reached the disk is all there is; the name already says incomplete.
        }
        finally
        {
            CloseDiscardingBuffer();
        }
    }

    /// <summary>Closes the handle even if the buffer cannot be written: Dispose retries the flush and would
    /// throw again, so the buffered bytes are dropped by closing the handle underneath it.</summary>
    private void CloseDiscardingBuffer()
    {
        try
        {
            _stream.Dispose();
        }
        catch (IOException)
        {
            _stream.SafeFileHandle.Dispose();
        }
    }
}
