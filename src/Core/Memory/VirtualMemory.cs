using System.Buffers.Binary;

namespace KdumpSharp.Memory;

/// <summary>
/// The crashed kernel's virtual address space: translation (an architecture's page-table walk,
/// or a fixed mapping in tests) over a dump's <see cref="PhysicalMemory"/>.
/// </summary>
public abstract class VirtualMemory(PhysicalMemory physical)
{
    public PhysicalMemory Physical { get; } = physical;

    /// <summary>
    /// Translates one address. On success also returns how many bytes from <paramref name="address"/>
    /// stay physically contiguous (to the end of the mapping page). Returns false when the address
    /// is not mapped; throws <see cref="MemoryFaultException"/> when a page table itself is missing from the dump.
    /// </summary>
    public abstract bool TryTranslate(ulong address, out PhysicalAddress physicalAddress, out ulong contiguousBytes);

    public PhysicalAddress Translate(ulong address) =>
        TryTranslate(address, out PhysicalAddress pa, out _) ? pa : throw new MemoryFaultException(AddressSpaceKind.KernelVirtual, address, PageState.Present);

    /// <summary>Reads bytes at a kernel virtual address, crossing pages; faults name the first virtual address that failed.</summary>
    public void Read(ulong address, Span<byte> destination, bool zeroFill = false)
    {
        while (!destination.IsEmpty)
        {
            if (!TryTranslate(address, out PhysicalAddress pa, out ulong contiguous))
            {
                if (!zeroFill)
                    throw new MemoryFaultException(AddressSpaceKind.KernelVirtual, address, PageState.Present);
                int skip = (int)Math.Min((ulong)destination.Length, PageFrameNumber.PageSize - (address & (PageFrameNumber.PageSize - 1)));
                destination[..skip].Clear();
                destination = destination[skip..];
                address += (ulong)skip;
                continue;
            }
            int count = (int)Math.Min((ulong)destination.Length, contiguous);
            try
            {
                Physical.Read(pa, destination[..count], zeroFill);
            }
            catch (MemoryFaultException fault) when (fault.Space == AddressSpaceKind.Physical)
            {
                throw new MemoryFaultException(AddressSpaceKind.KernelVirtual, address + (fault.Address - pa.Value), fault.State,
                    $"physical address 0x{fault.Address:x}: {Describe(fault.State)}");
            }
            destination = destination[count..];
            address += (ulong)count;
        }
    }

    public ulong ReadUInt64(ulong address)
    {
        Span<byte> b = stackalloc byte[8];
        Read(address, b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public uint ReadUInt32(ulong address)
    {
        Span<byte> b = stackalloc byte[4];
        Read(address, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public ushort ReadUInt16(ulong address)
    {
        Span<byte> b = stackalloc byte[2];
        Read(address, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    private static string Describe(PageState state) => state switch
    {
        PageState.NotInDump => "not in the dump",
        PageState.Excluded => "page excluded by the dump level",
        PageState.Lost => "page lost: the dump is incomplete",
        _ => "page data unreadable",
    };
}
