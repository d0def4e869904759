namespace KdumpSharp.Dumps;

/// <summary>The container a dump is stored in, as detected from its content.</summary>
public enum DumpFormat
{
    /// <summary>ELF64 core: a copy of /proc/vmcore, or makedumpfile -E.</summary>
    Elf,

    /// <summary>makedumpfile's kdump-compressed format ("KDUMP   " signature), or the older "DISKDUMP".</summary>
    KdumpCompressed,

    /// <summary>makedumpfile's flattened stream (-F) wrapping a kdump-compressed or ELF dump.</summary>
    Flattened,

    /// <summary>KdumpSharp's own capture format (see docs/format.md).</summary>
    Native,
}
