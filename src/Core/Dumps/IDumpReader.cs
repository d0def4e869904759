using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Dumps;

/// <summary>
/// One opened dump, whatever its container. Everything above the format readers (dmesg, info,
/// address translation, convert) works through this interface only.
/// </summary>
public interface IDumpReader : IDisposable
{
    /// <summary>The file name, used in messages.</summary>
    string Name { get; }

    DumpProperties Properties { get; }

    /// <summary>Every ELF note the dump carries (NT_PRSTATUS per CPU, VMCOREINFO, device dumps), in file order.</summary>
    IReadOnlyList<ElfNote> Notes { get; }

    /// <summary>The crashed kernel's VMCOREINFO, or null when the dump has none (e.g. a QEMU dump without the vmcoreinfo device).</summary>
    Vmcoreinfo? Vmcoreinfo { get; }

    /// <summary>The dumped physical memory.</summary>
    PhysicalMemory Memory { get; }
}
