namespace KdumpSharp.Dumps;

/// <summary>
/// The crashed kernel's <c>struct new_utsname</c> (include/uapi/linux/utsname.h): what
/// <c>uname -a</c> printed on the crashed machine. Fields the dump does not record are empty.
/// </summary>
public sealed record UtsName(string SysName, string NodeName, string Release, string Version, string Machine, string DomainName)
{
    public static UtsName Empty { get; } = new("", "", "", "", "", "");
}

/// <summary>
/// A dump whose container records the crashed kernel's utsname (kdump-compressed and diskdump
/// headers do; ELF vmcores do not, there it lives in kernel memory at init_uts_ns).
/// </summary>
public interface IHasUtsName
{
    UtsName UtsName { get; }
}
