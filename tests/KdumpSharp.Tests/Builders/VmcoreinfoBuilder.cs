using System.Globalization;
using System.Text;
using KdumpSharp.Kernel;

namespace KdumpSharp.Tests.Builders;

/// <summary>VMCOREINFO text built in code, in the kernel's value syntax (include/linux/vmcore_info.h):
/// SYMBOL hex without 0x, SIZE/OFFSET/LENGTH unsigned decimal, NUMBER signed decimal.</summary>
internal sealed class VmcoreinfoBuilder
{
    private readonly List<KeyValuePair<string, string>> _lines = new();

    public VmcoreinfoBuilder Set(string key, string value)
    {
        int at = _lines.FindIndex(l => l.Key == key);
        if (at >= 0)
            _lines[at] = new(key, value);
        else
            _lines.Add(new(key, value));
        return this;
    }

    public VmcoreinfoBuilder Remove(string key)
    {
        _lines.RemoveAll(l => l.Key == key);
        return this;
    }

    public VmcoreinfoBuilder Symbol(string name, ulong address) => Set($"SYMBOL({name})", address.ToString("x", CultureInfo.InvariantCulture));
    public VmcoreinfoBuilder Size(string name, long size) => Set($"SIZE({name})", size.ToString(CultureInfo.InvariantCulture));
    public VmcoreinfoBuilder Offset(string structAndField, long offset) => Set($"OFFSET({structAndField})", offset.ToString(CultureInfo.InvariantCulture));
    public VmcoreinfoBuilder Length(string name, long length) => Set($"LENGTH({name})", length.ToString(CultureInfo.InvariantCulture));
    public VmcoreinfoBuilder Number(string name, long value) => Set($"NUMBER({name})", value.ToString(CultureInfo.InvariantCulture));

    public string Text => string.Concat(_lines.Select(l => $"{l.Key}={l.Value}\n"));

    public byte[] Bytes => Encoding.ASCII.GetBytes(Text);

    public Vmcoreinfo Build() => Vmcoreinfo.Parse(Bytes);
}
