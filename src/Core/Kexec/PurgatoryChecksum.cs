using System.Buffers.Binary;
using System.Numerics;

namespace KdumpSharp.Kexec;

/// <summary>
/// The checksum our purgatory verifies each segment with, over the segment's whole destination
/// [mem, mem + memsz) read as little-endian qwords (the kernel zero-fills past bufsz,
/// kernel/kexec_core.c kimage_load_*_segment):
/// <code>h = Seed; for each qword w: h = rotl64((h ^ w) * Multiplier, Rotation)</code>
/// Not cryptographic — it guards against memory the loaded image shares with a misbehaving
/// device or a stray write before the panic, not against an attacker (who could replace the
/// purgatory too). Chosen because it is three ALU instructions per 8 bytes, so ~60 MB verify in
/// well under a second even under QEMU TCG, where SHA-256 in a hand-written stub would be slow and
/// long. For a fixed qword, h ↦ rotl((h ^ w)·K) is a bijection (K is odd), so a change confined
/// to any single qword always changes the result; wider damage goes undetected with probability
/// about 2^-64.
/// </summary>
public static class PurgatoryChecksum
{
    public const ulong Seed = 0x6a09e667f3bcc908;        // first SHA-512 IV word: an arbitrary non-zero constant
    public const ulong Multiplier = 0x9e3779b97f4a7c15;  // 2^64 / golden ratio, odd
    public const int Rotation = 29;

    /// <summary>The checksum of <paramref name="buffer"/> followed by zeros up to <paramref name="memorySize"/> (a multiple of 8).</summary>
    public static ulong Compute(ReadOnlySpan<byte> buffer, ulong memorySize)
    {
        if (memorySize % 8 != 0 || (ulong)buffer.Length > memorySize)
            throw new ArgumentException($"memory size 0x{memorySize:x} must be a multiple of 8 and hold the 0x{buffer.Length:x}-byte buffer");
        ulong h = Seed;
        int whole = buffer.Length / 8 * 8;
        for (int i = 0; i < whole; i += 8)
            h = Step(h, BinaryPrimitives.ReadUInt64LittleEndian(buffer[i..]));
        ulong done = (ulong)whole;
        if (whole < buffer.Length)
        {
            Span<byte> last = stackalloc byte[8];
            last.Clear();
            buffer[whole..].CopyTo(last);
            h = Step(h, BinaryPrimitives.ReadUInt64LittleEndian(last));
            done += 8;
        }
        for (; done < memorySize; done += 8)
            h = Step(h, 0);
        return h;
    }

    public static ulong Step(ulong h, ulong word) => BitOperations.RotateLeft((h ^ word) * Multiplier, Rotation);
}
