namespace KdumpSharp.Tests.Builders;

/// <summary>A fresh directory under the system temp directory, deleted with everything in it on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("kds-test-").FullName;
    }

    public string Path { get; }

    /// <summary>The host path of <paramref name="relative"/> inside this directory ("/usr/lib" → ".../usr/lib").</summary>
    public string this[string relative] => System.IO.Path.Join(Path, relative);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
