namespace KdumpSharp.Kexec;

/// <summary>Why a file was refused as a kernel for the classic kexec_load path.</summary>
public enum BzImageProblem
{
    /// <summary>No boot sector signature or no "HdrS": not a bzImage at all.</summary>
    NotBzImage,

    /// <summary>The file ends before the setup code or the header it announces.</summary>
    Truncated,

    /// <summary>The header holds values no kernel writes (alignment, sizes).</summary>
    Corrupt,

    /// <summary>Boot protocol older than 2.12 (no xloadflags, no 64-bit entry contract).</summary>
    ProtocolTooOld,

    /// <summary>LOADED_HIGH or relocatable_kernel is clear: the kernel wants to run at a fixed low address.</summary>
    NotRelocatable,

    /// <summary>XLF_KERNEL_64 is clear: no 64-bit entry point at load address + 0x200.</summary>
    Not64Bit,

    /// <summary>XLF_CAN_BE_LOADED_ABOVE_4G is clear.</summary>
    CannotLoadAbove4G,
}

/// <summary>A kernel image the classic loader cannot use; the message is one line naming the file.</summary>
public sealed class BzImageFormatException(string source, BzImageProblem problem, string detail)
    : KexecException($"{source}: {detail}")
{
    public BzImageProblem Problem { get; } = problem;
}
