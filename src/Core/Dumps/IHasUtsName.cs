using KdumpSharp.Kernel;

namespace KdumpSharp.Dumps;

/// <summary>
/// A dump whose container records the crashed kernel's utsname (kdump-compressed and diskdump
/// headers do; ELF vmcores do not, there it lives in kernel memory at init_uts_ns).
/// </summary>
public interface IHasUtsName
{
    UtsName UtsName { get; }
}
