using System.Text.Encodings.Web;
using System.Text.Json;

namespace KdumpSharp.Analyzer.Commands;

/// <summary>
/// The JSON shape every `--json` report of kds-analyzer shares: indented, non-ASCII text left as
/// it is (kernel log lines and task names are not HTML), one object, one closing newline, and a
/// value the dump does not hold written as null rather than left out, so scripts can rely on
/// every key being present.
/// </summary>
internal static class JsonReport
{
    private static readonly JsonWriterOptions Options = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Utf8JsonWriter Begin(Stream output) => new(output, Options);

    public static void End(Utf8JsonWriter writer, Stream output)
    {
        writer.Flush();
        output.WriteByte((byte)'\n');
    }

    public static void WriteNumberOrNull(this Utf8JsonWriter writer, string name, long? value)
    {
        if (value is long v)
            writer.WriteNumber(name, v);
        else
            writer.WriteNull(name);
    }

    public static void WriteNumberOrNull(this Utf8JsonWriter writer, string name, ulong? value)
    {
        if (value is ulong v)
            writer.WriteNumber(name, v);
        else
            writer.WriteNull(name);
    }
}
