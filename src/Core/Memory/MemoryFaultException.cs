namespace KdumpSharp.Memory;

/// <summary>Which address space a fault happened in.</summary>
public enum AddressSpaceKind
{
    Physical,
    KernelVirtual,
}

/// <summary>
/// A read touched memory the dump cannot supply. Carries the first failing address and why,
/// so the CLI can say "0xffff888001234000: page excluded by dump level" instead of printing zeros.
/// </summary>
public sealed class MemoryFaultException : Exception
{
    public MemoryFaultException(AddressSpaceKind space, ulong address, PageState state, string? detail = null)
        : base(Describe(space, address, state, detail))
    {
        Space = space;
        Address = address;
        State = state;
    }

    public AddressSpaceKind Space { get; }
    public ulong Address { get; }

    /// <summary>Why the page is unavailable; <see cref="PageState.Present"/> means the virtual address is not mapped.</summary>
    public PageState State { get; }

    private static string Describe(AddressSpaceKind space, ulong address, PageState state, string? detail)
    {
        string where = space == AddressSpaceKind.Physical ? $"physical address 0x{address:x}" : $"virtual address 0x{address:x}";
        string why = detail ?? state switch
        {
            PageState.NotInDump => "not in the dump (no RAM there was saved)",
            PageState.Excluded => "page excluded by the dump level",
            PageState.Lost => "page lost: the dump is incomplete",
            PageState.Unreadable => "page data in the dump is unreadable",
            _ => "not mapped by the kernel's page tables",
        };
        return $"{where}: {why}";
    }
}
