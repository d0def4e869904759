using System.Buffers.Binary;
using KdumpSharp.Memory;
using KdumpSharp.Symbols;

namespace KdumpSharp.Unwind;

/// <summary>
/// Walks a kernel stack with ORC data the way arch/x86/kernel/unwind_orc.c unwind_next_frame()
/// does: look up the entry for the ip (the ip itself at the first frame and after an exception
/// frame, ip − 1 after a call, so a call at a function's end still maps to that function); find
/// the caller's stack pointer (CFA) from the base register + offset; then by type: CALL takes the
/// return address at CFA − 8; REGS reads a whole pt_regs at CFA; REGS_PARTIAL (an iret frame)
/// reads ip at CFA and sp at CFA + 24. The saved frame pointer is restored from the CFA or the old
/// rbp when the entry says so. Stops at END_OF_STACK, at a user-mode register frame, at an
/// address without ORC data, at unreadable stack or when the stack stops growing upward.
/// </summary>
public sealed class OrcUnwinder(Func<ulong, OrcEntry?> findOrc, Func<ulong, SymbolOffset?> symbolize, VirtualMemory memory)
{
    /// <summary>An unwinder over one table and one symbol table (the kernel image alone).</summary>
    public OrcUnwinder(OrcTable table, SymbolTable symbols, VirtualMemory memory)
        : this(table.Find, symbols.Lookup, memory)
    {
    }

    /// <summary>Deeper than any real kernel stack walk (16 KiB stack, IRQ and exception stacks).</summary>
    public const int MaxFrames = 512;

    /// <summary>pt_regs offsets (arch/x86/include/asm/ptrace.h): ip at 128, sp at 152.</summary>
    private const int PtRegsIp = 128;

    /// <summary>Stack words searched for a return address when a function has no ORC data.</summary>
    public const int ScanWords = 512;

    /// <summary>
    /// The caller of a function without ORC data: the first stack word above sp that is a return
    /// address right after a 5-byte <c>call rel32</c> (opcode 0xe8) whose target is the start of
    /// the function the frame is in. Requiring the exact target keeps stale return addresses
    /// (the "?" entries of the kernel's own stack dump) out.
    /// </summary>
    private X86Registers? FindCallerByScan(X86Registers regs)
    {
        if (symbolize(regs.Rip) is not SymbolOffset current)
            return null;
        // Up to the end of the readable stack: the stack's top is followed by an unmapped guard page.
        byte[] words = new byte[ScanWords * 8];
        int readable = 0;
        while (readable < words.Length)
        {
            ulong at = regs.Rsp + (ulong)readable;
            int chunk = (int)Math.Min((ulong)(words.Length - readable), PageFrameNumber.PageSize - (at & (PageFrameNumber.PageSize - 1)));
            try
            {
                memory.Read(at, words.AsSpan(readable, chunk));
            }
            catch (MemoryFaultException)
            {
                break;
            }
            readable += chunk;
        }
        Span<byte> call = stackalloc byte[5];
        for (int i = 0; i < readable / 8; i++)
        {
            ulong candidate = BinaryPrimitives.ReadUInt64LittleEndian(words.AsSpan(i * 8));
            if (candidate < 0xffff_ffff_8000_0000 || symbolize(candidate) is not SymbolOffset where || !where.Symbol.IsText)
                continue;
            try
            {
                memory.Read(candidate - 5, call);
            }
            catch (MemoryFaultException)
            {
                continue;
            }
            if (call[0] == 0xe8 && candidate + (ulong)(long)BinaryPrimitives.ReadInt32LittleEndian(call[1..]) == current.Symbol.Address)
                return X86Registers.FromFrame(candidate, regs.Rsp + (ulong)(i + 1) * 8, regs.Rbp);
        }
        return null;
    }

    public Backtrace Unwind(X86Registers start)
    {
        var frames = new List<StackFrame>();
        X86Registers regs = start;
        bool full = true;
        bool signal = true;
        StackFrame Frame(X86Registers r, bool isRegs, bool isFull) =>
            new(r.Rip, r.Rsp, symbolize(r.Rip), isRegs ? r : null, isFull);

        frames.Add(Frame(regs, false, false));
        while (true)
        {
            if (frames.Count >= MaxFrames)
                return new Backtrace(frames, $"stopped after {MaxFrames} frames");
            ulong ip = regs.Rip, sp = regs.Rsp;
            OrcEntry? found = findOrc(signal ? ip : ip - 1);
            if (found is not OrcEntry orc || symbolize(ip) is null)
                return new Backtrace(frames, $"no ORC data for 0x{ip:x} (a module or user address?)");
            if (orc.Type == OrcType.EndOfStack)
                return new Backtrace(frames, null);
            if (orc.Type == OrcType.Undefined || orc.SpRegister == OrcRegister.Undefined)
            {
                // objtool leaves some functions without ORC (STACK_FRAME_NON_STANDARD, e.g. 6.1's
                // __crash_kexec, whose crash_setup_regs() pushf confuses it): find the call into it instead.
                if (FindCallerByScan(regs) is X86Registers caller)
                {
                    regs = caller;
                    full = false;
                    signal = false;
                    frames.Add(Frame(regs, false, false));
                    continue;
                }
                return new Backtrace(frames, $"ORC has no unwind information for {symbolize(ip)}");
            }
            try
            {
                ulong cfa;
                switch (orc.SpRegister)
                {
                    case OrcRegister.Sp: cfa = sp + (ulong)(long)orc.SpOffset; break;
                    case OrcRegister.Bp: cfa = regs.Rbp + (ulong)(long)orc.SpOffset; break;
                    // Since 5.12 SP_INDIRECT is *(sp) + offset, BP_INDIRECT *(bp + offset) (unwind_orc.c).
                    case OrcRegister.SpIndirect: cfa = memory.ReadUInt64(sp) + (ulong)(long)orc.SpOffset; break;
                    case OrcRegister.BpIndirect: cfa = memory.ReadUInt64(regs.Rbp + (ulong)(long)orc.SpOffset); break;
                    case OrcRegister.R10 when full: cfa = regs.R10Value; break;
                    case OrcRegister.R13 when full: cfa = regs.R13Value; break;
                    case OrcRegister.Di when full: cfa = regs.Rdi; break;
                    case OrcRegister.Dx when full: cfa = regs.Rdx; break;
                    default:
                        return new Backtrace(frames, $"ORC base register {orc.SpRegister} at {symbolize(ip)} needs registers this frame lacks");
                }
                X86Registers next;
                bool nextFull;
                bool isRegs = false;
                switch (orc.Type)
                {
                    case OrcType.Call:
                        next = X86Registers.FromFrame(memory.ReadUInt64(cfa - 8), cfa, regs.Rbp);
                        nextFull = false;
                        break;
                    case OrcType.Regs:
                        byte[] ptRegs = new byte[X86Registers.PtRegsSize];
                        memory.Read(cfa, ptRegs);
                        next = X86Registers.FromPtRegs(ptRegs);
                        nextFull = true;
                        isRegs = true;
                        break;
                    default:
                        byte[] iret = new byte[40];
                        memory.Read(cfa, iret);
                        next = X86Registers.FromFrame(BinaryPrimitives.ReadUInt64LittleEndian(iret), BinaryPrimitives.ReadUInt64LittleEndian(iret.AsSpan(24)), regs.Rbp);
                        nextFull = false;
                        isRegs = true;
                        break;
                }
                switch (orc.BpRegister)
                {
                    case OrcRegister.Undefined:
                        if (!nextFull)
                            next.Rbp = regs.Rbp;
                        break;
                    case OrcRegister.PreviousSp:
                        next.Rbp = memory.ReadUInt64(cfa + (ulong)(long)orc.BpOffset);
                        break;
                    case OrcRegister.Bp:
                        next.Rbp = memory.ReadUInt64(regs.Rbp + (ulong)(long)orc.BpOffset);
                        break;
                    default:
                        return new Backtrace(frames, $"unknown ORC frame-pointer register {orc.BpRegister} at {symbolize(ip)}");
                }
                if (isRegs)
                {
                    // The frame that took the exception or interrupt carries the saved registers.
                    frames[^1] = frames[^1] with { Registers = next, FullRegisters = nextFull };
                    if (nextFull && next.IsUserMode)
                        return new Backtrace(frames, null);
                }
                if (next.Rsp <= sp && !isRegs)
                    return new Backtrace(frames, $"stack going the wrong way at {symbolize(ip)} (sp 0x{sp:x} → 0x{next.Rsp:x})");
                regs = next;
                full = nextFull;
                signal = isRegs;
                frames.Add(Frame(regs, false, false));
            }
            catch (MemoryFaultException e)
            {
                return new Backtrace(frames, $"stack unreadable: {e.Message}");
            }
        }
    }
}
