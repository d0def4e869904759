using System.Text;

namespace KdumpSharp.Dumps;

/// <summary>
/// The crashed kernel's <c>struct new_utsname</c> (include/uapi/linux/utsname.h): what
/// <c>uname -a</c> printed on the crashed machine. Fields the dump does not record are empty.
/// </summary>
public sealed record UtsName(string SysName, string NodeName, string Release, string Version, string Machine, string DomainName)
{
    /// <summary>__NEW_UTS_LEN + 1: each field is NUL-terminated in 65 bytes.</summary>
    internal const int FieldLength = 65;

    /// <summary>sysname, nodename, release, version, machine, domainname.</summary>
    internal const int Size = 6 * FieldLength;

    public static UtsName Empty { get; } = new("", "", "", "", "", "");

    internal static UtsName Read(ReadOnlySpan<byte> b) =>
        new(Field(b, 0), Field(b, 1), Field(b, 2), Field(b, 3), Field(b, 4), Field(b, 5));

    internal void Write(Span<byte> b)
    {
        b[..Size].Clear();
        string[] fields = [SysName, NodeName, Release, Version, Machine, DomainName];
        for (int i = 0; i < fields.Length; i++)
        {
            // At most 64 bytes, so the field keeps its terminating NUL.
            string value = fields[i].Length < FieldLength ? fields[i] : fields[i][..(FieldLength - 1)];
            Encoding.Latin1.GetBytes(value, b.Slice(i * FieldLength, FieldLength - 1));
        }
    }

    private static string Field(ReadOnlySpan<byte> b, int index)
    {
        ReadOnlySpan<byte> field = b.Slice(index * FieldLength, FieldLength);
        int nul = field.IndexOf((byte)0);
        return Encoding.Latin1.GetString(nul >= 0 ? field[..nul] : field);
    }
}

/// <summary>
/// A dump whose container records the crashed kernel's utsname (kdump-compressed and diskdump
/// headers do; ELF vmcores do not, there it lives in kernel memory at init_uts_ns).
/// </summary>
public interface IHasUtsName
{
    UtsName UtsName { get; }
}
