namespace KdumpSharp.Kexec;

/// <summary>The errno values kexec reports on x86_64 (include/uapi/asm-generic/errno-base.h, errno.h).</summary>
public static class KexecErrno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ENOEXEC = 8;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;
    public const int ENODATA = 61;
    public const int ENOPKG = 65;
    public const int EBADMSG = 74;
    public const int ELIBBAD = 80;
    public const int EMSGSIZE = 90;
    public const int EOPNOTSUPP = 95;
    public const int EADDRNOTAVAIL = 99;
    public const int ENOKEY = 126;
    public const int EKEYEXPIRED = 127;
    public const int EKEYREVOKED = 128;
    public const int EKEYREJECTED = 129;

    /// <summary>ENOTSUPP, a kernel-internal value that leaks out of some image probes (include/linux/errno.h).</summary>
    public const int ENOTSUPP = 524;

    /// <summary>The errnos of a failed signature check (kernel/kexec_file.c kimage_validate_signature, crypto/asymmetric_keys).</summary>
    public static bool IsSignatureFailure(int errno) =>
        errno is ENOKEY or EKEYREJECTED or EKEYEXPIRED or EKEYREVOKED or EBADMSG or ENODATA or ELIBBAD or ENOPKG or EMSGSIZE;

    /// <summary>The symbolic name, for messages ("EPERM"), or the number.</summary>
    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ENOEXEC => "ENOEXEC",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EBUSY => "EBUSY",
        EINVAL => "EINVAL",
        ENOSYS => "ENOSYS",
        ENODATA => "ENODATA",
        ENOPKG => "ENOPKG",
        EBADMSG => "EBADMSG",
        ELIBBAD => "ELIBBAD",
        EMSGSIZE => "EMSGSIZE",
        EOPNOTSUPP => "EOPNOTSUPP",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENOKEY => "ENOKEY",
        EKEYEXPIRED => "EKEYEXPIRED",
        EKEYREVOKED => "EKEYREVOKED",
        EKEYREJECTED => "EKEYREJECTED",
        ENOTSUPP => "ENOTSUPP",
        _ => $"errno {errno}",
    };
}
