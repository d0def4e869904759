namespace KdumpSharp.Kexec;

/// <summary>kexec_load flags, include/uapi/linux/kexec.h.</summary>
[Flags]
public enum KexecLoadFlags : ulong
{
    None = 0,
    OnCrash = 0x1,
    PreserveContext = 0x2,

    /// <summary>KEXEC_ARCH_X86_64 (EM_X86_64 &lt;&lt; 16), OR'd into every x86-64 load.</summary>
    ArchX86_64 = 62UL << 16,
}

/// <summary>kexec_file_load flags, include/uapi/linux/kexec.h.</summary>
[Flags]
public enum KexecFileFlags : ulong
{
    None = 0,
    Unload = 0x1,
    OnCrash = 0x2,
    NoInitramfs = 0x4,
}
