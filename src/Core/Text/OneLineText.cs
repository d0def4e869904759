using System.Text;

namespace KdumpSharp.Text;

/// <summary>
/// Makes text from a dump (a symbol name, a BTF type name, a task's comm) safe to put in a one-line
/// message: a damaged dump can hold any byte, and a newline or an escape sequence in an error would
/// break the "one line on stderr" promise and could drive the reader's terminal.
/// </summary>
public static class OneLineText
{
    /// <summary>The text with every control character written as a C-style escape (\n, \t, \x1b).</summary>
    public static string Escape(string text)
    {
        int first = text.AsSpan().IndexOfAny(ControlCharacters);
        if (first < 0)
            return text;
        var builder = new StringBuilder(text.Length + 8).Append(text, 0, first);
        foreach (char c in text.AsSpan(first))
        {
            switch (c)
            {
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case var _ when ControlCharacters.Contains(c):
                    builder.Append(c <= 0xff ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
                    break;
                default: builder.Append(c); break;
            }
        }
        return builder.ToString();
    }

    /// <summary>The escaped text in double quotes, for naming a value inside a sentence.</summary>
    public static string Quote(string text) => $"\"{Escape(text)}\"";

    /// <summary>C0 and C1 controls and DEL (Unicode category Cc), and the two Unicode line breaks.</summary>
    private static readonly System.Buffers.SearchValues<char> ControlCharacters = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(i => (char)i), .. Enumerable.Range(0x7f, 0x21).Select(i => (char)i), '\u2028', '\u2029']);
}
