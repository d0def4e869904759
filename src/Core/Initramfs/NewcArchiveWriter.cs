using System.IO.Compression;
using System.Text;

namespace KdumpSharp.Initramfs;

/// <summary>
/// Streams a newc ("070701") cpio archive, the format the kernel unpacks as an initramfs
/// (Documentation/driver-api/early-userspace/buffer-format.rst, init/initramfs.c).
/// </summary>
/// <remarks>
/// The output is deterministic: every entry gets the same modification time, inode numbers count
/// up from 1 in the order entries are added, and owners are root. Directories missing above an
/// entry are added first (mode 0755), because the kernel's unpacker does not create parents and
/// would fail to open "bin/sh" without an earlier "bin" entry. Hard links are not written.
/// Disposing the writer ends the archive, as <see cref="Finish"/> does.
/// </remarks>
public sealed class NewcArchiveWriter : IDisposable
{
    // File type bits of c_mode (include/uapi/linux/stat.h).
    private const uint TypeDirectory = 0x4000;    // S_IFDIR
    private const uint TypeRegular = 0x8000;      // S_IFREG
    private const uint TypeSymlink = 0xA000;      // S_IFLNK
    private const uint TypeCharDevice = 0x2000;   // S_IFCHR
    private const uint TypeBlockDevice = 0x6000;  // S_IFBLK
    private const uint PermissionMask = 0xFFF;    // rwx for all plus setuid, setgid, sticky
    private const uint SymlinkPermissions = 0x1FF; // 0777: symlink permission bits mean nothing on Linux

    /// <summary>
    /// init/initramfs.c rejects an entry whose name (with its NUL) is PATH_MAX or longer.
    /// </summary>
    private const int MaxNameBytes = 4096 - 1;

    private const string TrailerName = "TRAILER!!!";

    /// <summary>GNU cpio pads archives to 512-byte blocks; the kernel skips the zeros.</summary>
    private const int ArchiveBlockSize = 512;

    private const UnixFileMode DefaultDirectoryMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly Stream _output;
    private readonly Stream _archive;
    private readonly bool _leaveOpen;
    private readonly uint _modificationTime;
    private readonly Dictionary<string, bool> _entries = new(StringComparer.Ordinal); // name → is directory
    private readonly byte[] _copyBuffer = new byte[81920];
    private uint _nextInode = 1;
    private long _position;
    private bool _finished;
    private bool _disposed;

    /// <param name="output">Where the archive goes; written sequentially, never seeked.</param>
    /// <param name="compression">Whether to gzip the archive (the kernel accepts gzip with CONFIG_RD_GZIP) or zstd it (CONFIG_RD_ZSTD).</param>
    /// <param name="leaveOpen">If false, disposing the writer also disposes <paramref name="output"/>.</param>
    /// <param name="modificationTime">c_mtime of every entry, seconds since the epoch.</param>
    public NewcArchiveWriter(Stream output, InitramfsCompression compression = InitramfsCompression.None,
        bool leaveOpen = false, uint modificationTime = 0)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite)
            throw new ArgumentException("the output stream is not writable", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
        _modificationTime = modificationTime;
        _archive = compression switch
        {
            InitramfsCompression.None => output,
            InitramfsCompression.Gzip => new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true),
            InitramfsCompression.Zstd => new ZstdArchiveStream(output),
            _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "unknown compression"),
        };
    }

    /// <summary>Bytes of uncompressed archive written so far.</summary>
    public long UncompressedLength => _position;

    /// <summary>Entries written so far, trailer excluded.</summary>
    public int EntryCount => _entries.Count;

    /// <summary>Whether an entry with this path (normalized as the writer does) has been written.</summary>
    public bool Contains(string path) => _entries.ContainsKey(NormalizePath(path));

    /// <summary>Adds a directory. Missing parents are added too.</summary>
    public void AddDirectory(string path, UnixFileMode mode = DefaultDirectoryMode)
    {
        string name = PrepareEntry(path);
        // Two links: the entry in its parent and its own ".".
        WriteEntry(name, TypeDirectory | Permissions(mode), linkCount: 2, ReadOnlySpan<byte>.Empty, 0, 0, isDirectory: true);
    }

    /// <summary>Adds a regular file with the given bytes.</summary>
    public void AddFile(string path, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        string name = PrepareEntry(path);
        CheckFileSize(name, content.Length);
        WriteHeaderAndName(name, TypeRegular | Permissions(mode), linkCount: 1, (uint)content.Length, 0, 0, isDirectory: false);
        WriteData(content);
        WritePadding();
    }

    /// <summary>Adds a regular file of exactly <paramref name="length"/> bytes read from <paramref name="content"/>.</summary>
    /// <exception cref="EndOfStreamException">The stream ended early; the archive is then unusable.</exception>
    public void AddFile(string path, Stream content, long length, UnixFileMode mode)
    {
        ArgumentNullException.ThrowIfNull(content);
        string name = PrepareEntry(path);
        CheckFileSize(name, length);
        WriteHeaderAndName(name, TypeRegular | Permissions(mode), linkCount: 1, (uint)length, 0, 0, isDirectory: false);
        long remaining = length;
        while (remaining > 0)
        {
            int read = content.Read(_copyBuffer, 0, (int)Math.Min(_copyBuffer.Length, remaining));
            if (read == 0)
                throw new EndOfStreamException($"'{name}': the content stream ended after {length - remaining} of {length} bytes");
            WriteData(_copyBuffer.AsSpan(0, read));
            remaining -= read;
        }
        WritePadding();
    }

    /// <summary>
    /// Adds a regular file copied from <paramref name="hostPath"/> (symlinks followed). Without
    /// <paramref name="mode"/>, the host file's permission bits are kept (Unix hosts only).
    /// </summary>
    public void AddFileFromHost(string path, string hostPath, UnixFileMode? mode = null)
    {
        UnixFileMode permissions = mode
            ?? (OperatingSystem.IsWindows()
                ? throw new PlatformNotSupportedException("Windows files have no Unix mode; pass one")
                : File.GetUnixFileMode(hostPath));
        using var source = new FileStream(hostPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        AddFile(path, source, source.Length, permissions);
    }

    /// <summary>Adds a symbolic link whose content is <paramref name="target"/>, stored as given.</summary>
    public void AddSymlink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (target.Contains('\0'))
            throw new ArgumentException("a symlink target cannot contain NUL", nameof(target));
        string name = PrepareEntry(path);
        byte[] bytes = Encoding.UTF8.GetBytes(target);
        WriteHeaderAndName(name, TypeSymlink | SymlinkPermissions, linkCount: 1, (uint)bytes.Length, 0, 0, isDirectory: false);
        WriteData(bytes);
        WritePadding();
    }

    /// <summary>Adds a character device node (for example /dev/console, 5:1).</summary>
    public void AddCharacterDevice(string path, UnixFileMode mode, uint major, uint minor)
    {
        string name = PrepareEntry(path);
        WriteEntry(name, TypeCharDevice | Permissions(mode), linkCount: 1, ReadOnlySpan<byte>.Empty, major, minor, isDirectory: false);
    }

    /// <summary>Adds a block device node.</summary>
    public void AddBlockDevice(string path, UnixFileMode mode, uint major, uint minor)
    {
        string name = PrepareEntry(path);
        WriteEntry(name, TypeBlockDevice | Permissions(mode), linkCount: 1, ReadOnlySpan<byte>.Empty, major, minor, isDirectory: false);
    }

    /// <summary>
    /// Writes the TRAILER!!! entry, pads to a 512-byte block and, for gzip, ends the gzip member.
    /// Nothing can be added afterwards. Calling it again does nothing.
    /// </summary>
    public void Finish()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished)
            return;
        WriteHeaderAndName(TrailerName, 0, linkCount: 1, 0, 0, 0, isDirectory: false, countInode: false);
        int tail = (int)(_position % ArchiveBlockSize);
        if (tail != 0)
            WriteData(new byte[ArchiveBlockSize - tail]);
        _finished = true;
        if (!ReferenceEquals(_archive, _output))
            _archive.Dispose();
        _output.Flush();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        try
        {
            Finish();
        }
        finally
        {
            _disposed = true;
            if (!ReferenceEquals(_archive, _output))
                _archive.Dispose();
            if (!_leaveOpen)
                _output.Dispose();
        }
    }

    /// <summary>
    /// Archive names are relative ("bin/sh"), as usr/gen_init_cpio.c writes them; a leading '/'
    /// is dropped. Empty, "." and ".." components are refused rather than guessed at.
    /// </summary>
    private static string NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string trimmed = path.TrimStart('/').TrimEnd('/');
        if (trimmed.Length == 0)
            throw new ArgumentException($"'{path}' names the archive root, which is implicit", nameof(path));
        if (trimmed.Contains('\0'))
            throw new ArgumentException("an archive path cannot contain NUL", nameof(path));
        foreach (string component in trimmed.Split('/'))
        {
            if (component.Length == 0 || component == "." || component == "..")
                throw new ArgumentException($"'{path}' has an empty, '.' or '..' component", nameof(path));
        }
        if (Encoding.UTF8.GetByteCount(trimmed) > MaxNameBytes)
            throw new ArgumentException($"'{path}' is longer than the kernel's {MaxNameBytes}-byte name limit", nameof(path));
        return trimmed;
    }

    private string PrepareEntry(string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished)
            throw new InvalidOperationException("the archive is finished; no entries can be added");
        string name = NormalizePath(path);
        if (_entries.ContainsKey(name))
            throw new ArgumentException($"'{name}' is already in the archive", nameof(path));
        for (int slash = name.IndexOf('/'); slash >= 0; slash = name.IndexOf('/', slash + 1))
        {
            string parent = name[..slash];
            if (_entries.TryGetValue(parent, out bool isDirectory))
            {
                if (!isDirectory)
                    throw new ArgumentException($"'{name}' is below '{parent}', which is not a directory in the archive", nameof(path));
                continue;
            }
            WriteEntry(parent, TypeDirectory | Permissions(DefaultDirectoryMode), linkCount: 2, ReadOnlySpan<byte>.Empty, 0, 0, isDirectory: true);
        }
        return name;
    }

    private static uint Permissions(UnixFileMode mode)
    {
        if (((uint)mode & ~PermissionMask) != 0)
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "only permission bits may be given; the writer sets the file type");
        return (uint)mode;
    }

    private static void CheckFileSize(string name, long length)
    {
        // c_filesize is eight hex digits.
        if (length < 0 || length > uint.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"'{name}': newc stores file sizes in 32 bits");
    }

    private void WriteEntry(string name, uint mode, uint linkCount, ReadOnlySpan<byte> data, uint major, uint minor, bool isDirectory)
    {
        WriteHeaderAndName(name, mode, linkCount, (uint)data.Length, major, minor, isDirectory);
        WriteData(data);
        WritePadding();
    }

    private void WriteHeaderAndName(string name, uint mode, uint linkCount, uint fileSize, uint major, uint minor,
        bool isDirectory, bool countInode = true)
    {
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        var header = new NewcHeader(countInode ? _nextInode : 0, mode, linkCount, countInode ? _modificationTime : 0,
            fileSize, major, minor, (uint)nameBytes + 1);
        // The name (with its NUL) is padded so that header plus name is a multiple of 4.
        int padded = Align4(NewcHeader.Size + nameBytes + 1);
        byte[] buffer = new byte[padded];
        header.WriteTo(buffer);
        Encoding.UTF8.GetBytes(name, buffer.AsSpan(NewcHeader.Size));
        WriteData(buffer);
        if (countInode)
        {
            _nextInode++;
            _entries.Add(name, isDirectory);
        }
    }

    private void WriteData(ReadOnlySpan<byte> data)
    {
        _archive.Write(data);
        _position += data.Length;
    }

    /// <summary>File data is padded to a multiple of 4, so the next header starts aligned.</summary>
    private void WritePadding()
    {
        int pad = (int)(Align4(_position) - _position);
        if (pad > 0)
            WriteData(Zeros[..pad]);
    }

    private static ReadOnlySpan<byte> Zeros => [0, 0, 0, 0];

    private static int Align4(int n) => (n + 3) & ~3;

    private static long Align4(long n) => (n + 3) & ~3L;
}
