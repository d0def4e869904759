using KdumpSharp.Analyzer;

namespace KdumpSharp.Tests.Analyzer;

/// <summary>Runs kds-analyzer in process with captured output, and keeps temp files for the test's lifetime.</summary>
internal sealed class CliHarness : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kds-cli-").FullName;

    public string WriteFile(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public string PathOf(string name) => Path.Combine(_dir, name);

    public (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = AnalyzerCli.Run(args, output, error);
        return (code, System.Text.Encoding.UTF8.GetString(output.ToArray()), error.ToString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
