using System.Buffers.Binary;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// A window of kernel memory for tests: a linear virtual range over <see cref="SparsePhysicalMemory"/>
/// (like the direct map), a bump allocator to place structures in it, and the VMCOREINFO that
/// describes them.
/// </summary>
internal sealed class KernelMemoryBuilder
{
    public const ulong VirtualBase = 0xffff_8880_0100_0000;
    public const ulong PhysicalBase = 0x0100_0000;

    private ulong _next = VirtualBase;

    public KernelMemoryBuilder(ulong length = 1 << 20)
    {
        Length = length;
        Physical = new SparsePhysicalMemory(PhysicalRange.FromLength(PhysicalBase, length));
        Virtual = new LinearVirtualMemory(Physical, VirtualBase, PhysicalBase, length);
    }

    public ulong Length { get; }
    public SparsePhysicalMemory Physical { get; }
    public LinearVirtualMemory Virtual { get; }
    public VmcoreinfoBuilder Vmcoreinfo { get; } = new();

    /// <summary>Bytes of the window handed out so far.</summary>
    public ulong UsedLength => _next - VirtualBase;

    public ulong Allocate(long size, int align = 8)
    {
        ulong at = (_next + (ulong)align - 1) & ~((ulong)align - 1);
        if (at + (ulong)size > VirtualBase + Length)
            throw new InvalidOperationException("test kernel memory window is full");
        _next = at + (ulong)size;
        return at;
    }

    public ulong Place(ReadOnlySpan<byte> bytes, int align = 8)
    {
        ulong at = Allocate(bytes.Length, align);
        Write(at, bytes);
        return at;
    }

    public void Write(ulong virtualAddress, ReadOnlySpan<byte> bytes) => Physical.Write(ToPhysical(virtualAddress), bytes);

    public void WriteUInt64(ulong virtualAddress, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Write(virtualAddress, b);
    }

    public void WriteUInt32(ulong virtualAddress, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Write(virtualAddress, b);
    }

    /// <summary>Marks the page holding <paramref name="virtualAddress"/> as missing from the dump.</summary>
    public void Drop(ulong virtualAddress, PageState state = PageState.Excluded) =>
        Physical.SetState(new PhysicalAddress(ToPhysical(virtualAddress)).Frame, state);

    /// <summary>The window's bytes from its start to the last allocation, as a dump's PT_LOAD would hold them.</summary>
    public byte[] Snapshot()
    {
        byte[] bytes = new byte[(UsedLength + 4095) & ~4095UL];
        Physical.Read(new PhysicalAddress(PhysicalBase), bytes, zeroFill: true);
        return bytes;
    }

    private static ulong ToPhysical(ulong virtualAddress) => virtualAddress - VirtualBase + PhysicalBase;
}
