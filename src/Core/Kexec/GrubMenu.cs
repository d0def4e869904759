namespace KdumpSharp.Kexec;

/// <summary>
/// The menu of a generated grub.cfg, read as far as a kexec needs: menuentry and submenu blocks
/// with their titles and $menuentry_id_option ids, and each entry's linux and initrd lines. GRUB
/// script (conditionals, variables, functions) is not evaluated; grub-mkconfig's output puts the
/// entries at top level or one submenu deep, which is what this reads.
/// </summary>
public sealed class GrubMenu
{
    /// <summary>A menuentry (with <see cref="Linux"/>) or a submenu (with <see cref="Children"/>).</summary>
    public sealed class Entry(string title, string? id)
    {
        public string Title { get; } = title;
        public string? Id { get; } = id;
        public string? Linux { get; internal set; }
        public string? Options { get; internal set; }
        public string? Initrd { get; internal set; }
        public List<Entry> Children { get; } = [];
    }

    public List<Entry> Entries { get; } = [];

    /// <summary>The value of the last top-level "set default=…", quotes removed, or null.</summary>
    public string? Default { get; private set; }

    /// <summary>Most nesting read; deeper blocks are skipped as GRUB script we do not evaluate.</summary>
    private const int MaxDepth = 8;

    public static GrubMenu Parse(string config)
    {
        var menu = new GrubMenu();
        // What each open '{' belongs to: an entry or submenu, or null for other script blocks.
        var open = new Stack<Entry?>();
        foreach (string raw in config.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            List<string> words = Words(line);
            Entry? current = open.Count > 0 ? open.Peek() : null;
            if (words[0] is "menuentry" or "submenu" && words.Count > 1 && line.EndsWith('{'))
            {
                int idAt = words.IndexOf("$menuentry_id_option");
                var entry = new Entry(words[1], idAt > 0 && idAt + 1 < words.Count ? words[idAt + 1] : null);
                if (open.Count == 0)
                    menu.Entries.Add(entry);
                else if (current is not null && open.Count < MaxDepth)
                    current.Children.Add(entry);
                open.Push(entry);
                continue;
            }
            if (line.EndsWith('{'))
            {
                open.Push(null);
                continue;
            }
            if (line == "}" && open.Count > 0)
            {
                open.Pop();
                continue;
            }
            if (current is not null && words[0] is "linux" or "linuxefi" or "linux16" && words.Count > 1)
            {
                current.Linux = words[1];
                current.Options = words.Count > 2 ? string.Join(' ', words.Skip(2)) : null;
            }
            else if (current is not null && words[0] is "initrd" or "initrdefi" or "initrd16" && words.Count > 1)
                current.Initrd = words[1];
            else if (open.Count == 0 && words[0] == "set" && words.Count > 1 && words[1].StartsWith("default=", StringComparison.Ordinal))
                menu.Default = words[1]["default=".Length..];
        }
        return menu;
    }

    /// <summary>
    /// The entry a GRUB default names: a path of steps separated by '>' (submenu, then entry),
    /// each step an index, a title or an id, as GRUB's menu lookup accepts.
    /// </summary>
    public Entry? Select(string selector)
    {
        List<Entry> level = Entries;
        Entry? found = null;
        foreach (string step in selector.Split('>'))
        {
            found = int.TryParse(step, out int index)
                ? (index >= 0 && index < level.Count ? level[index] : null)
                : level.FirstOrDefault(e => e.Title == step || e.Id == step);
            if (found is null)
                return null;
            level = found.Children;
        }
        // A submenu as the default boots its first entry.
        while (found is { Linux: null, Children.Count: > 0 })
            found = found.Children[0];
        return found;
    }

    /// <summary>Splits a line into words, removing single and double quotes as GRUB's lexer does.</summary>
    private static List<string> Words(string line)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        char quote = '\0';
        bool inWord = false;
        foreach (char c in line)
        {
            if (quote != '\0')
            {
                if (c == quote)
                    quote = '\0';
                else
                    current.Append(c);
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(current.ToString());
                current.Clear();
                inWord = false;
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }
        if (inWord)
            words.Add(current.ToString());
        return words;
    }
}
