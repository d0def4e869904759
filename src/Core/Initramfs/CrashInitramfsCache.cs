using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using KdumpSharp.IO;

namespace KdumpSharp.Initramfs;

/// <summary>A crash initramfs in the cache, and whether this call wrote it.</summary>
/// <param name="Path">The image file, named by its key.</param>
/// <param name="Reused">True when an image with the same key was already there.</param>
/// <param name="Bytes">The file's size.</param>
/// <param name="Key">The hex SHA-256 of every input (<see cref="CrashInitramfsCache.Key"/>).</param>
/// <param name="Removed">Images this call deleted because the new one supersedes them (<see cref="CrashInitramfsCache.GetOrBuild"/>).</param>
public sealed record CachedCrashInitramfs(string Path, bool Reused, long Bytes, string Key, IReadOnlyList<string> Removed);

/// <summary>
/// Crash initramfs images kept between loads, named by a hash of the contents of everything the
/// builder reads: the kds-capture executable and each library it maps or dlopens, each module file
/// and modules.dep, the kernel config, the configuration, the release, the compression and the
/// builder itself. Contents, not timestamps: a package upgrade that rewrites a library with new
/// bytes gives a new image, a touch or a copy with the same bytes does not.
/// </summary>
/// <remarks>
/// An image is written as <c>NAME-incomplete</c> (0600), fsynced and renamed (<see cref="CrashSafeFile"/>),
/// so a name without the suffix is always a whole image and can be armed as it is.
/// </remarks>
public static class CrashInitramfsCache
{
    /// <summary>Where kds-loader keeps the images (under the system root).</summary>
    public const string DefaultDirectory = "/var/lib/kdumpsharp";

    /// <summary>Changes whenever what the key covers changes, so old keys can never match a new scheme.</summary>
    private const string KeyScheme = "kdumpsharp crash initramfs key 1";

    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const string NamePrefix = "crash-initramfs-";
    private const string NameSuffix = ".img";

    /// <summary>Hex digits of the key in a file name: enough that two inputs never share a name in practice.</summary>
    private const int NameKeyLength = 16;

    /// <summary>
    /// The image for <paramref name="request"/>: the cached one if its key matches, else a new build.
    /// A new build supersedes the images of the same release (a loaded crash kernel keeps its own
    /// copy of the segments, so deleting the file does not disarm it) and the images of releases
    /// whose modules are no longer installed; both are deleted so that years of package upgrades
    /// do not fill /var/lib. Images of other installed releases are kept for their next load.
    /// </summary>
    /// <exception cref="InitramfsInputException">An input is missing or malformed (as <see cref="CrashInitramfsBuilder.Build(CrashInitramfsRequest, Stream)"/>).</exception>
    public static CachedCrashInitramfs GetOrBuild(CrashInitramfsRequest request, string directory)
    {
        string key = Key(request);
        Directory.CreateDirectory(directory, Mode0700);
        string path = Path.Combine(directory, $"{NamePrefix}{request.KernelRelease}-{key[..NameKeyLength]}{NameSuffix}");
        if (File.Exists(path))
            return new CachedCrashInitramfs(path, Reused: true, new FileInfo(path).Length, key, []);

        // A leftover from a build that died part way is ours to replace: its name says it was never whole.
        File.Delete(path + CrashSafeFile.IncompleteSuffix);
        CrashSafeFile file = CrashSafeFile.Create(path);
        try
        {
            CrashInitramfsBuilder.Build(request, file.Stream);
            file.Commit();
        }
        catch
        {
            file.Dispose();
            File.Delete(path + CrashSafeFile.IncompleteSuffix);
            throw;
        }
        return new CachedCrashInitramfs(path, Reused: false, new FileInfo(path).Length, key, RemoveSuperseded(directory, path, request));
    }

    private static List<string> RemoveSuperseded(string directory, string kept, CrashInitramfsRequest request)
    {
        string? modulesRoot = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(request.ModulesDirectory));
        var removed = new List<string>();
        foreach (string image in Directory.EnumerateFiles(directory, NamePrefix + "*" + NameSuffix))
        {
            if (image == kept || ReleaseOf(Path.GetFileName(image)) is not string release)
                continue;
            bool superseded = release == request.KernelRelease ||
                (modulesRoot is not null && !Directory.Exists(Path.Combine(modulesRoot, release)));
            if (!superseded)
                continue;
            File.Delete(image);
            removed.Add(image);
        }
        return removed;
    }

    /// <summary>The release in "crash-initramfs-RELEASE-KEY.img", or null for a name this cache did not write.</summary>
    private static string? ReleaseOf(string name)
    {
        int keyStart = name.Length - NameSuffix.Length - NameKeyLength;
        if (keyStart <= NamePrefix.Length + 1 || name[keyStart - 1] != '-' || name.AsSpan(keyStart, NameKeyLength).IndexOfAnyExcept("0123456789abcdef") >= 0)
            return null;
        return name[NamePrefix.Length..(keyStart - 1)];
    }

    /// <summary>The hex SHA-256 of every input of <paramref name="request"/>'s image, by content.</summary>
    public static string Key(CrashInitramfsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AddText(hash, KeyScheme);
        // The builder's code decides the image's layout as much as its inputs do; Core is built
        // deterministically, so its module version id changes exactly when its code does.
        AddText(hash, typeof(CrashInitramfsBuilder).Assembly.ManifestModule.ModuleVersionId.ToString());
        AddText(hash, request.KernelRelease);
        AddText(hash, request.Compression.ToString());
        AddText(hash, request.Configuration.ToText());
        AddText(hash, string.Join('\n', request.Modules));
        AddText(hash, request.LibraryRoot);
        AddOptionalFile(hash, request.KernelConfig);
        AddOptionalFile(hash, request.DebugShell);

        foreach ((string archivePath, string hostPath) in CrashInitramfsBuilder.HostFiles(request))
        {
            AddText(hash, archivePath);
            AddFile(hash, hostPath);
        }
        AddFile(hash, Path.Combine(request.ModulesDirectory, "modules.dep"));
        AddOptionalFile(hash, Path.Combine(request.ModulesDirectory, "modules.builtin"));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.</summary>
    private static void AddText(IncrementalHash hash, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }

    private static void AddOptionalFile(IncrementalHash hash, string? path)
    {
        if (path is not null && File.Exists(path))
            AddFile(hash, path);
        else
            AddText(hash, "(none)");
    }

    private static void AddFile(IncrementalHash hash, string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, file.Length);
        hash.AppendData(length);
        byte[] buffer = new byte[1 << 16];
        int read;
        while ((read = file.Read(buffer)) > 0)
            hash.AppendData(buffer.AsSpan(0, read));
    }
}
