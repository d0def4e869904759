namespace KdumpSharp.Kernel;

/// <summary>
/// A kernel structure's size as VMCOREINFO states it, with field offsets checked to lie inside it, so
/// a reader that slices a copied structure at those offsets cannot run past its end whatever the
/// dump says. Offsets of nested members are sums (e.g. OFFSET(printk_ringbuffer.desc_ring) +
/// OFFSET(prb_desc_ring.head_id) + OFFSET(atomic_long_t.counter)).
/// </summary>
internal readonly struct StructLayout
{
    /// <summary>Larger than any structure VMCOREINFO describes (the biggest, printk_ringbuffer, is under 200 bytes).</summary>
    private const ulong MaxStructBytes = 1 << 16;

    private readonly Vmcoreinfo _vmcoreinfo;

    private StructLayout(Vmcoreinfo vmcoreinfo, string name, int size)
    {
        _vmcoreinfo = vmcoreinfo;
        Name = name;
        Size = size;
    }

    public string Name { get; }
    public int Size { get; }

    /// <summary>SIZE(<paramref name="name"/>), required.</summary>
    public static StructLayout Of(Vmcoreinfo vmcoreinfo, string name)
    {
        ulong size = vmcoreinfo.RequireSize(name);
        if (size == 0 || size > MaxStructBytes)
            throw new KernelDataException($"VMCOREINFO SIZE({name})={size} is not a plausible structure size");
        return new StructLayout(vmcoreinfo, name, (int)size);
    }

    /// <summary>OFFSET(<paramref name="structAndField"/>), required, as a number to add to others.</summary>
    public static int Offset(Vmcoreinfo vmcoreinfo, string structAndField)
    {
        ulong offset = vmcoreinfo.RequireOffset(structAndField);
        if (offset >= MaxStructBytes)
            throw new KernelDataException($"VMCOREINFO OFFSET({structAndField})={offset} is not a plausible member offset");
        return (int)offset;
    }

    /// <summary>OFFSET(name.field) plus <paramref name="extra"/> (a nested member's offset), checked so
    /// that <paramref name="width"/> bytes there lie inside SIZE(name).</summary>
    public int Field(string field, int width, int extra = 0) =>
        Fits($"{Name}.{field}", Offset(_vmcoreinfo, $"{Name}.{field}") + extra, width);

    /// <summary>Checks that <paramref name="width"/> bytes at <paramref name="offset"/> lie inside this structure.</summary>
    public int Fits(string what, int offset, int width)
    {
        if ((long)offset + width > Size)
            throw new KernelDataException($"VMCOREINFO puts {what} ({width} bytes at offset {offset}) outside SIZE({Name})={Size}");
        return offset;
    }
}
