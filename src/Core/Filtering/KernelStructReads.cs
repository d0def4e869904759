using System.Buffers.Binary;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Filtering;

/// <summary>
/// Reads of the kernel structures filtering depends on (mem_section roots, pglist_data, zones): a
/// structure the dump lacks means filtering cannot be trusted, so a fault becomes a
/// <see cref="KernelDataException"/> naming the structure.
/// </summary>
internal static class KernelStructReads
{
    public static ulong ReadUInt64(VirtualMemory memory, ulong address, string what)
    {
        Span<byte> b = stackalloc byte[sizeof(ulong)];
        ReadBytes(memory, address, b, what);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public static uint ReadUInt32(VirtualMemory memory, ulong address, string what)
    {
        Span<byte> b = stackalloc byte[sizeof(uint)];
        ReadBytes(memory, address, b, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static void ReadBytes(VirtualMemory memory, ulong address, Span<byte> destination, string what)
    {
        try
        {
            memory.Read(address, destination);
        }
        catch (MemoryFaultException fault)
        {
            throw new KernelDataException($"{what} at 0x{address:x} cannot be read: {fault.Message}");
        }
    }
}
