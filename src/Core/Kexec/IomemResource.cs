using System.Globalization;
using KdumpSharp.Memory;

namespace KdumpSharp.Kexec;

/// <summary>
/// One line of /proc/iomem (kernel/resource.c r_show): "start-end : name", hex, end inclusive,
/// two spaces of indent per nesting level. Children are the resources nested inside it
/// ("Kernel code" and "Crash kernel" sit inside "System RAM").
/// </summary>
public sealed record IomemResource(PhysicalRange Range, string Name, IReadOnlyList<IomemResource> Children)
{
    public override string ToString() => $"{Range} {Name}";
}

/// <summary>The parsed /proc/iomem tree.</summary>
public sealed class Iomem
{
    /// <summary>More lines than any machine has; bounds what a bad file can make us allocate.</summary>
    private const int MaxLines = 1 << 16;

    private Iomem(IReadOnlyList<IomemResource> top) => TopLevel = top;

    public IReadOnlyList<IomemResource> TopLevel { get; }

    /// <summary>Every resource, parents before children, in file order.</summary>
    public IEnumerable<IomemResource> All()
    {
        var stack = new Stack<IomemResource>(TopLevel.Reverse());
        while (stack.Count > 0)
        {
            IomemResource r = stack.Pop();
            yield return r;
            for (int i = r.Children.Count - 1; i >= 0; i--)
                stack.Push(r.Children[i]);
        }
    }

    /// <summary>Every resource named exactly <paramref name="name"/>, at any depth, in address order.</summary>
    public IReadOnlyList<PhysicalRange> Find(string name) =>
        All().Where(r => r.Name == name).Select(r => r.Range).OrderBy(r => r.Start).ToList();

    /// <summary>Parses the text of /proc/iomem; <paramref name="source"/> names it in errors.</summary>
    public static Iomem Parse(string source, string text)
    {
        var top = new List<IomemResource>();
        // Open ancestors: their child lists, by depth.
        var open = new List<List<IomemResource>> { top };
        int lineNumber = 0;
        bool anyNonZero = false;
        foreach (string raw in text.Split('\n'))
        {
            lineNumber++;
            if (lineNumber > MaxLines)
                throw new KexecException($"{source}: more than {MaxLines} lines");
            if (raw.Length == 0)
                continue;
            int indent = raw.Length - raw.TrimStart(' ').Length;
            int depth = indent / 2;
            int dash = raw.IndexOf('-', indent);
            int colon = raw.IndexOf(" : ", indent, StringComparison.Ordinal);
            if (indent % 2 != 0 || dash < 0 || colon < dash
                || !ulong.TryParse(raw.AsSpan(indent, dash - indent), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
                || !ulong.TryParse(raw.AsSpan(dash + 1, colon - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong last)
                || last < start || last == ulong.MaxValue)
                throw new KexecException($"{source}: line {lineNumber} is not \"start-end : name\"");
            if (depth >= open.Count)
                throw new KexecException($"{source}: line {lineNumber} is nested two levels below its parent");
            anyNonZero |= last != 0;
            var children = new List<IomemResource>();
            open[depth].Add(new IomemResource(new PhysicalRange(new(start), new(last + 1)), raw[(colon + 3)..].TrimEnd(), children));
            open.RemoveRange(depth + 1, open.Count - depth - 1);
            open.Add(children);
        }
        if (top.Count > 0 && !anyNonZero)
            throw new KexecException($"{source}: every range reads as 0 (the kernel hides addresses without CAP_SYS_ADMIN)", hint: "run as root");
        return new Iomem(top);
    }
}
