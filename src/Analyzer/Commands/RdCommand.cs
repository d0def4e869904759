using System.CommandLine;
using System.Globalization;
using KdumpSharp.Analysis;
using KdumpSharp.Memory;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>rd DUMP ADDRESS [LENGTH]</c>: hexdump memory by kernel virtual or physical address, like crash's rd.</summary>
internal static class RdCommand
{
    public static Command Create(Stream output)
    {
        var dump = AnalyzerCli.DumpArgument();
        var address = new Argument<string>("address") { Description = "start address (hex, 0x optional)" };
        var length = new Argument<string>("length") { Description = "bytes to show (decimal, or hex with 0x)", DefaultValueFactory = _ => "64" };
        var physical = new Option<bool>("--physical", "-p") { Description = "ADDRESS is physical, not kernel virtual" };
        var zeroFill = new Option<bool>("--zero-fill") { Description = "show pages the dump lacks as zeros instead of stopping" };
        var width = new Option<int>("--width", "-w") { Description = "unit size: 1, 2, 4 or 8 bytes", DefaultValueFactory = _ => 8 };
        width.AcceptOnlyFromAmong("1", "2", "4", "8");
        var command = new Command("rd", "hexdump memory by kernel virtual address (through the dump's own page tables) or physical address")
        {
            dump, address, length, physical, zeroFill, width,
        };
        command.SetAction(parse =>
        {
            ulong start = ParseAddress(parse.GetValue(address)!, "address");
            ulong count = ParseAddress(parse.GetValue(length)!, "length");
            if (count > 1 << 30)
                throw new UsageException("length is larger than 1 GiB");
            using KernelDump kd = KernelDump.Open(parse.GetValue(dump)!);
            bool isPhysical = parse.GetValue(physical);
            bool fill = parse.GetValue(zeroFill);
            Action<ulong, Span<byte>> read = isPhysical
                ? (a, b) => kd.Reader.Memory.Read(new PhysicalAddress(a), b, fill)
                : (a, b) => kd.Virtual.Read(a, b, fill);
            using StreamWriter text = AnalyzerCli.Text(output);
            HexDump.Write(text, start, count, parse.GetValue(width), read);
            return ExitCodes.Success;
        });
        return command;
    }

    internal static ulong ParseAddress(string text, string what)
    {
        string t = text.Trim().Replace("_", "");
        bool hex = what == "address" || t.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            t = t[2..];
        if (ulong.TryParse(t, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong v))
            return v;
        throw new UsageException($"'{text}' is not a valid {what}");
    }
}
