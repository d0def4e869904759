using System.Text;
using KdumpSharp.Memory;

namespace KdumpSharp.Kernel;

/// <summary>
/// The crashed kernel's <c>struct new_utsname</c> (include/uapi/linux/utsname.h): six NUL-terminated
/// fields of __NEW_UTS_LEN + 1 = 65 bytes each, what uname(2) returned on the dumped machine.
/// makedumpfile copies the same bytes into the kdump-compressed header (disk_dump_header.utsname).
/// </summary>
public sealed record UtsName(string SysName, string NodeName, string Release, string Version, string Machine, string DomainName)
{
    public const int FieldLength = 65;
    public const int Size = 6 * FieldLength;

    /// <summary>For containers that record no utsname.</summary>
    public static UtsName Empty { get; } = new("", "", "", "", "", "");

    /// <summary>
    /// Reads init_uts_ns.name: SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name), both in VMCOREINFO
    /// since 2.6.x (kernel/vmcore_info.c). This is the initial namespace — what the host saw, not a
    /// container's hostname.
    /// </summary>
    public static UtsName Read(VirtualMemory memory, Vmcoreinfo vmcoreinfo)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(vmcoreinfo);
        ulong address = vmcoreinfo.RequireSymbol("init_uts_ns") + vmcoreinfo.RequireOffset("uts_namespace.name");
        Span<byte> bytes = stackalloc byte[Size];
        memory.Read(address, bytes);
        return Parse(bytes);
    }

    /// <summary>Decodes a 390-byte new_utsname. Each field ends at its first NUL (or after 65 bytes);
    /// bytes are UTF-8, invalid sequences become U+FFFD.</summary>
    public static UtsName Parse(ReadOnlySpan<byte> newUtsname)
    {
        if (newUtsname.Length < Size)
            throw new KernelDataException($"new_utsname needs {Size} bytes, got {newUtsname.Length}");
        return new UtsName(
            Field(newUtsname, 0), Field(newUtsname, 1), Field(newUtsname, 2),
            Field(newUtsname, 3), Field(newUtsname, 4), Field(newUtsname, 5));
    }

    private static string Field(ReadOnlySpan<byte> bytes, int index)
    {
        ReadOnlySpan<byte> field = bytes.Slice(index * FieldLength, FieldLength);
        int nul = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? field[..nul] : field);
    }

    /// <summary>Writes the 390-byte new_utsname; each field keeps at most 64 bytes so it stays NUL-terminated.</summary>
    public void Write(Span<byte> destination)
    {
        destination[..Size].Clear();
        string[] fields = [SysName, NodeName, Release, Version, Machine, DomainName];
        for (int i = 0; i < fields.Length; i++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(fields[i]);
            bytes.AsSpan(0, Math.Min(bytes.Length, FieldLength - 1)).CopyTo(destination.Slice(i * FieldLength));
        }
    }
}
