using System.Buffers.Binary;

namespace KdumpSharp.Tests.Fuzzing;

/// <summary>How a valid seed is damaged; each case is one seed plus one deterministic mutation.</summary>
public enum Mutation
{
    Truncate,
    FlipBits,
    OverwriteField,
    RandomBlock,
}

/// <summary>A valid dump and the byte ranges worth damaging (headers, bitmaps, descriptors, notes, page tables, log).</summary>
public sealed record FuzzSeed(string Name, byte[] File, (int Offset, int Length)[] Regions, ulong[] VirtualProbes, bool HasKernelLog = true)

{
    public override string ToString() => Name;
}

internal static class Mutator
{
    private static readonly ulong[] InterestingValues =
        [0, 1, 0xff, 0x7f, 0x80, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x7fffffffffffffff, 0x8000000000000000, ulong.MaxValue, 4096, 4095, 4097];

    public static byte[] Apply(FuzzSeed seed, Mutation mutation, Random random)
    {
        byte[] file = (byte[])seed.File.Clone();
        (int offset, int length) = seed.Regions[random.Next(seed.Regions.Length)];
        int at = offset + random.Next(Math.Max(1, length));
        at = Math.Clamp(at, 0, file.Length - 1);
        switch (mutation)
        {
            case Mutation.Truncate:
                return file[..at];
            case Mutation.FlipBits:
                for (int i = random.Next(1, 5); i > 0; i--)
                {
                    int p = Math.Clamp(at + random.Next(-16, 16), 0, file.Length - 1);
                    file[p] ^= (byte)(1 << random.Next(8));
                }
                return file;
            case Mutation.OverwriteField:
                int width = new[] { 2, 4, 8 }[random.Next(3)];
                at = Math.Max(0, Math.Min(at & ~(width - 1), file.Length - width));
                ulong value = InterestingValues[random.Next(InterestingValues.Length)];
                if (random.Next(4) == 0)
                    value = (ulong)random.NextInt64();
                Span<byte> field = file.AsSpan(at, width);
                if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value);
                else if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value);
                else BinaryPrimitives.WriteUInt64LittleEndian(field, value);
                return file;
            default:
                int count = Math.Min(random.Next(1, 256), file.Length - at);
                random.NextBytes(file.AsSpan(at, count));
                return file;
        }
    }
}
