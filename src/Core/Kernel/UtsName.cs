using KdumpSharp.Dumps;
using System.Text;

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
    /// The crashed kernel's utsname wherever the dump has it: the container's copy (a kdump-compressed
    /// header) when filled in, else init_uts_ns in memory, read through the kernel image mapping so no
    /// page table is needed and checked against OSRELEASE (<see cref="InitUtsName"/>). Null when neither.
    /// </summary>
    /// <param name="physBase">phys_base when the caller knows it better than NUMBER(phys_base) (a kdump sub header).</param>
    public static UtsName? Find(IDumpReader dump, ulong? physBase = null)
    {
        ArgumentNullException.ThrowIfNull(dump);
        if (dump is IHasUtsName { UtsName: var uts } && uts != Empty)
            return uts;
        if (dump.Vmcoreinfo is not Vmcoreinfo info)
            return null;
        ulong? phys = physBase ?? (info.Number("phys_base") is long p ? (ulong)p : null);
        return phys is ulong b ? InitUtsName.TryRead(dump.Memory, info, b) : null;
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
