using System.Globalization;
using System.Text;

namespace KdumpSharp.Text;

/// <summary>
/// Makes text from a dump (a symbol name, a BTF type name, a VMCOREINFO value) safe to put in a
/// one-line message: a damaged dump can hold any byte, and a newline or an escape sequence in an
/// error would break the "one line on stderr" promise and could drive the reader's terminal.
/// </summary>
public static class OneLineText
{
    /// <summary>The text with every control character written as a C-style escape (\n, \t, \x1b).</summary>
    public static string Escape(string text)
    {
        int first = IndexOfControl(text);
        if (first < 0)
            return text;
        var builder = new StringBuilder(text.Length + 8).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            switch (c)
            {
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case var _ when char.IsControl(c) || c is '\u2028' or '\u2029':
                    builder.Append(c <= 0xff ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
                    break;
                default: builder.Append(c); break;
            }
        }
        return builder.ToString();
    }

    /// <summary>The escaped text in double quotes, for naming a value inside a sentence.</summary>
    public static string Quote(string text) => string.Create(CultureInfo.InvariantCulture, $"\"{Escape(text)}\"");

    private static int IndexOfControl(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
                return i;
        }
        return -1;
    }
}
