using System.Buffers.Binary;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace KdumpSharp.IO;

/// <summary>
/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF),
/// the checksum of iSCSI (RFC 3720), ext4 and btrfs metadata. The x86 SSE4.2 <c>crc32</c> instruction
/// and the Arm64 CRC32C instructions compute exactly this; without them a slicing-by-8 table does
/// (QEMU's qemu64 CPU model, which the VM harness boots, advertises SSE3 and CX16 in CPUID leaf 1
/// ECX and no SSE4.2, so a capture there takes the table path).
/// System.IO.Hashing is not used: its package is not on the feed this project builds from, and it
/// has no CRC-32C anyway.
/// </summary>
internal static class Crc32C
{
    private const uint Polynomial = 0x82F63B78;

    /// <summary>table[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8).</summary>
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Extends a finished CRC: <c>Append(Compute(a), b) == Compute(a + b)</c>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data);

    /// <summary>The table-driven path alone, so tests can hold it against the hardware one.</summary>
    internal static uint ComputeSoftware(ReadOnlySpan<byte> data) => ~UpdateSoftware(~0u, data);

    private static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong s = state;
            while (data.Length >= sizeof(ulong))
            {
                s = Sse42.X64.Crc32(s, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[sizeof(ulong)..];
            }
            state = (uint)s;
            foreach (byte b in data)
                state = Sse42.Crc32(state, b);
            return state;
        }
        if (Crc32.Arm64.IsSupported)
        {
            while (data.Length >= sizeof(ulong))
            {
                state = Crc32.Arm64.ComputeCrc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[sizeof(ulong)..];
            }
            foreach (byte b in data)
                state = Crc32.ComputeCrc32C(state, b);
            return state;
        }
        return UpdateSoftware(state, data);
    }

    private static uint UpdateSoftware(uint state, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<uint> t = Table;
        while (data.Length >= 8)
        {
            uint lo = state ^ BinaryPrimitives.ReadUInt32LittleEndian(data);
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            state = t[7 * 256 + (int)(lo & 0xff)] ^ t[6 * 256 + (int)((lo >> 8) & 0xff)]
                  ^ t[5 * 256 + (int)((lo >> 16) & 0xff)] ^ t[4 * 256 + (int)(lo >> 24)]
                  ^ t[3 * 256 + (int)(hi & 0xff)] ^ t[2 * 256 + (int)((hi >> 8) & 0xff)]
                  ^ t[1 * 256 + (int)((hi >> 16) & 0xff)] ^ t[(int)(hi >> 24)];
            data = data[8..];
        }
        foreach (byte b in data)
            state = t[(int)((state ^ b) & 0xff)] ^ (state >> 8);
        return state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint b = 0; b < 256; b++)
        {
            uint crc = b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ Polynomial : crc >> 1;
            table[b] = crc;
        }
        for (int k = 1; k < 8; k++)
            for (int b = 0; b < 256; b++)
            {
                uint previous = table[(k - 1) * 256 + b];
                table[k * 256 + b] = table[(int)(previous & 0xff)] ^ (previous >> 8);
            }
        return table;
    }
}
