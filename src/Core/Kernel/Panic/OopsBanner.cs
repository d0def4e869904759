using System.Globalization;
using System.Text.RegularExpressions;

namespace KdumpSharp.Kernel.Panic;

/// <summary>
/// The line dump_stack_print_info() (lib/dump_stack.c) prints before every stack dump:
/// <c>"CPU: %d PID: %d Comm: %.20s %s%s %s %.*s"</c> up to 6.9, with <c>"UID: %u "</c> after the CPU
/// since 6.10, followed by "Kdump: loaded " when a crash kernel is loaded, print_tainted()
/// ("Not tainted" or "Tainted: " plus one letter or space per taint flag), the release, the first word
/// of the UTS version, and on newer kernels the preemption model and build ID.
/// </summary>
public sealed partial record OopsBanner(int Cpu, uint? Uid, int Pid, string Comm, bool KdumpLoaded, string? Taint, string? Release)
{
    private const string KdumpMarker = " Kdump: loaded ";
    private const string NotTainted = "Not tainted";
    private const string TaintedPrefix = "Tainted: ";

    /// <summary>Parses one log line; false when it is not a banner.</summary>
    /// <remarks><see cref="Taint"/> is null for "Not tainted", otherwise the flag column as printed with
    /// trailing spaces removed, so each letter keeps its position (e.g. "G        W" = not proprietary,
    /// warned). <see cref="Release"/> is the word after the taint field.</remarks>
    public static bool TryParse(string line, out OopsBanner banner)
    {
        banner = null!;
        Match m = BannerPattern().Match(line);
        if (!m.Success
            || !int.TryParse(m.Groups["cpu"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int cpu)
            || !int.TryParse(m.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            return false;
        uint? uid = null;
        if (m.Groups["uid"].Success)
        {
            if (!uint.TryParse(m.Groups["uid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out uint u))
                return false;
            uid = u;
        }

        // The comm may contain spaces; it ends where " Kdump: loaded ", " Not tainted" or " Tainted: "
        // begins (the comm is at most 15 bytes, so the first such marker is the real one unless the
        // comm itself spells one).
        string rest = m.Groups["rest"].Value;
        int end = FirstOf(rest, KdumpMarker, " " + NotTainted, " " + TaintedPrefix);
        if (end < 0)
            return false;
        string comm = rest[..end];
        string after = rest[(end + 1)..];
        bool kdump = after.StartsWith(KdumpMarker[1..], StringComparison.Ordinal);
        if (kdump)
            after = after[(KdumpMarker.Length - 1)..];

        string? taint;
        string tail;
        if (after.StartsWith(NotTainted, StringComparison.Ordinal))
        {
            taint = null;
            tail = after[NotTainted.Length..];
        }
        else if (after.StartsWith(TaintedPrefix, StringComparison.Ordinal))
        {
            // Flags are upper-case letters or spaces, one column per taint bit; the release follows
            // after one space and starts with a digit (or anything that is not a flag).
            string flags = after[TaintedPrefix.Length..];
            int i = 0;
            while (i < flags.Length && (flags[i] == ' ' || char.IsAsciiLetterUpper(flags[i])))
                i++;
            // i stops at the release's first character (or the end); back up over the separator
            // and over a release that happens to start with a capital letter.
            int releaseStart = i < flags.Length ? flags.LastIndexOf(' ', Math.Max(i - 1, 0)) + 1 : flags.Length;
            taint = flags[..releaseStart].TrimEnd();
            tail = flags[releaseStart..];
        }
        else
        {
            return false;
        }
        string[] words = tail.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        banner = new OopsBanner(cpu, uid, pid, comm, kdump, taint, words.Length > 0 ? words[0] : null);
        return true;
    }

    private static int FirstOf(string s, params string[] markers)
    {
        int best = -1;
        foreach (string marker in markers)
        {
            int at = s.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best))
                best = at;
        }
        return best;
    }

    [GeneratedRegex(@"^CPU: (?<cpu>\d+) (?:UID: (?<uid>\d+) )?PID: (?<pid>\d+) Comm: (?<rest>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex BannerPattern();
}
