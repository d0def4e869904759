namespace KdumpSharp.Kexec;

/// <summary>
/// One Boot Loader Specification type #1 entry (loader/entries/*.conf: "key value" lines, '#'
/// comments; uapi-group.org/specifications/specs/boot_loader_specification). Only the keys a
/// kexec needs are kept.
/// </summary>
public sealed record BlsEntry(string FileName, string? Title, string? Version, string? SortKey, string? Linux, IReadOnlyList<string> Initrds, string? Options)
{
    /// <summary>The entry id: the file name without ".conf".</summary>
    public string Id => FileName.EndsWith(".conf", StringComparison.Ordinal) ? FileName[..^5] : FileName;

    public static BlsEntry Parse(string fileName, string text)
    {
        string? title = null, version = null, sortKey = null, linux = null;
        var initrds = new List<string>();
        var options = new List<string>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            string[] parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            string value = parts.Length > 1 ? parts[1].Trim() : "";
            switch (parts[0])
            {
                case "title": title = value; break;
                case "version": version = value; break;
                case "sort-key": sortKey = value; break;
                case "linux": linux = value; break;
                case "initrd": initrds.AddRange(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)); break;
                case "options": options.Add(value); break;
            }
        }
        return new BlsEntry(fileName, title, version, sortKey, linux, initrds, options.Count == 0 ? null : string.Join(' ', options));
    }

    /// <summary>loader.conf's default is a glob over entry ids; systemd-boot accepts the id with or without ".conf".</summary>
    public bool Matches(string pattern) => Glob(pattern, Id) || Glob(pattern, FileName);

    /// <summary>
    /// systemd-boot's order, simplified: entries with a sort-key before those without, then by
    /// sort-key, then by version, then by id, each compared as versions (strverscmp-like), so
    /// "the first" of a descending sort is the newest.
    /// </summary>
    public static IComparer<BlsEntry> Order { get; } = Comparer<BlsEntry>.Create((a, b) =>
    {
        int c = (a.SortKey is null).CompareTo(b.SortKey is null);
        if (c != 0)
            return -c;
        c = VersionCompare(a.SortKey ?? "", b.SortKey ?? "");
        if (c != 0)
            return -c;
        c = VersionCompare(a.Version ?? "", b.Version ?? "");
        return c != 0 ? c : VersionCompare(a.Id, b.Id);
    });

    /// <summary>Compares digit runs as numbers and everything else as characters ("6.10" &gt; "6.9").</summary>
    public static int VersionCompare(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
            {
                int si = i, sj = j;
                while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                string na = a[si..i].TrimStart('0'), nb = b[sj..j].TrimStart('0');
                int c = na.Length != nb.Length ? na.Length.CompareTo(nb.Length) : string.CompareOrdinal(na, nb);
                if (c != 0)
                    return c;
            }
            else
            {
                if (a[i] != b[j])
                    return a[i].CompareTo(b[j]);
                i++;
                j++;
            }
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    /// <summary>fnmatch-style '*' and '?' over the whole string.</summary>
    private static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
                return false;
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }
}
