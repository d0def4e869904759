using System.Buffers.Binary;
using KdumpSharp.Unwind;

namespace KdumpSharp.Tests.Builders;

/// <summary>Builds ORC tables (.orc_unwind_ip as self-relative s32, .orc_unwind as 6-byte entries) in either bit layout.</summary>
internal sealed class OrcBuilder(OrcFormat format)
{
    public const ulong IpTableAddress = 0xffff_ffff_8200_0000;

    private readonly List<(ulong Ip, byte[] Entry)> _entries = [];

    public OrcBuilder Add(ulong ip, OrcRegister spReg, short spOffset, OrcType type, OrcRegister bpReg = OrcRegister.Undefined, short bpOffset = 0)
    {
        byte[] e = new byte[OrcEntry.Size];
        BinaryPrimitives.WriteInt16LittleEndian(e, spOffset);
        BinaryPrimitives.WriteInt16LittleEndian(e.AsSpan(2), bpOffset);
        int bits = (int)spReg | ((int)bpReg << 4);
        if (format == OrcFormat.TypedEnd)
            bits |= type switch { OrcType.EndOfStack => 1, OrcType.Call => 2, OrcType.Regs => 3, OrcType.RegsPartial => 4, _ => 0 } << 8;
        else
        {
            bits |= type switch { OrcType.Regs => 1, OrcType.RegsPartial => 2, _ => 0 } << 8;
            if (type == OrcType.EndOfStack)
                bits |= 1 << (format == OrcFormat.Original ? 10 : 11);
        }
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(4), (ushort)bits);
        _entries.Add((ip, e));
        return this;
    }

    public (byte[] Ips, byte[] Entries) Build()
    {
        var sorted = _entries.OrderBy(e => e.Ip).ToList();
        byte[] ips = new byte[sorted.Count * 4];
        byte[] entries = new byte[sorted.Count * OrcEntry.Size];
        for (int i = 0; i < sorted.Count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(ips.AsSpan(i * 4), (int)(long)(sorted[i].Ip - (IpTableAddress + (ulong)i * 4)));
            sorted[i].Entry.CopyTo(entries, i * OrcEntry.Size);
        }
        return (ips, entries);
    }

    public OrcTable Table()
    {
        (byte[] ips, byte[] entries) = Build();
        return OrcTable.Parse(ips, IpTableAddress, entries, format);
    }
}
