using KdumpSharp.Symbols;

namespace KdumpSharp.Unwind;

/// <summary>
/// One frame of a kernel backtrace: the instruction address, the stack pointer at it, the symbol,
/// and, when the frame was entered through an exception or interrupt, the saved registers.
/// </summary>
public sealed record StackFrame(ulong Ip, ulong Sp, SymbolOffset? Symbol, X86Registers? Registers, bool FullRegisters)
{
    public string Name => Symbol?.Symbol.Name ?? "?";
}

/// <summary>A backtrace and, if it stopped before the bottom of the stack, why.</summary>
public sealed record Backtrace(IReadOnlyList<StackFrame> Frames, string? StopReason);
