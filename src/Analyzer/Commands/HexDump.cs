using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Analyzer.Commands;

/// <summary>crash-style hexdump: address, 16 bytes as little-endian units, then ASCII.</summary>
internal static class HexDump
{
    private const int LineBytes = 16;

    /// <summary>Reads a line at a time so a fault stops output at the first missing line, after what was readable.</summary>
    public static void Write(TextWriter output, ulong start, ulong count, int width, Action<ulong, Span<byte>> read)
    {
        byte[] line = new byte[LineBytes];
        var text = new StringBuilder();
        for (ulong done = 0; done < count;)
        {
            int n = (int)Math.Min(LineBytes, count - done);
            ulong at = start + done;
            read(at, line.AsSpan(0, n));
            text.Clear();
            text.Append(at.ToString("x16")).Append(": ");
            for (int i = 0; i < LineBytes; i += width)
            {
                if (i + width <= n)
                    text.Append(FormatUnit(line.AsSpan(i, width))).Append(' ');
                else
                    text.Append(' ', width * 2 + 1);
            }
            text.Append("  ");
            for (int i = 0; i < n; i++)
                text.Append(line[i] is >= 0x20 and < 0x7f ? (char)line[i] : '.');
            output.WriteLine(text.ToString().TrimEnd());
            done += (ulong)n;
        }
    }

    private static string FormatUnit(ReadOnlySpan<byte> b) => b.Length switch
    {
        1 => b[0].ToString("x2"),
        2 => BinaryPrimitives.ReadUInt16LittleEndian(b).ToString("x4"),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(b).ToString("x8"),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(b).ToString("x16"),
    };
}
