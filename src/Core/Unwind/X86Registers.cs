using System.Buffers.Binary;

namespace KdumpSharp.Unwind;

/// <summary>
/// x86_64 general registers in <c>struct pt_regs</c> order (arch/x86/include/asm/ptrace.h), which
/// is also the order of the first 21 words of NT_PRSTATUS's <c>pr_reg</c> (user_regs_struct).
/// </summary>
public sealed class X86Registers
{
    public const int Count = 21;

    /// <summary>sizeof(struct pt_regs) on x86_64.</summary>
    public const int PtRegsSize = Count * 8;

    public static readonly string[] Names =
        ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss"];

    private const int R13 = 2, Bp = 4, R10 = 7, Dx = 12, Di = 14, Ip = 16, CodeSegment = 17, Sp = 19;

    private readonly ulong[] _values = new ulong[Count];

    public ulong this[int index] => _values[index];

    public ulong Rip { get => _values[Ip]; set => _values[Ip] = value; }
    public ulong Rsp { get => _values[Sp]; set => _values[Sp] = value; }
    public ulong Rbp { get => _values[Bp]; set => _values[Bp] = value; }
    public ulong Cs => _values[CodeSegment];
    public ulong R10Value => _values[R10];
    public ulong R13Value => _values[R13];
    public ulong Rdi => _values[Di];
    public ulong Rdx => _values[Dx];

    /// <summary>CPL 3 in the saved CS: the frame returns to user space, the end of a kernel stack.</summary>
    public bool IsUserMode => (Cs & 3) == 3;

    /// <summary>Registers from a pt_regs image (or pr_reg), at least 21 words.</summary>
    public static X86Registers FromPtRegs(ReadOnlySpan<byte> bytes)
    {
        var r = new X86Registers();
        for (int i = 0; i < Count; i++)
            r._values[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * 8)..]);
        return r;
    }

    public static X86Registers FromFrame(ulong ip, ulong sp, ulong bp)
    {
        var r = new X86Registers();
        r.Rip = ip;
        r.Rsp = sp;
        r.Rbp = bp;
        return r;
    }
}
