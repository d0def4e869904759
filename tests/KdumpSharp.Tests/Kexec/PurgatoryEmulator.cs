using System.Buffers.Binary;
using System.Text;
using Iced.Intel;

namespace KdumpSharp.Tests.Kexec;

/// <summary>
/// Executes the purgatory's machine code, decoded by Iced, over a sparse physical memory: just
/// the instructions the purgatory is allowed to contain. Anything else fails the test, so an
/// unexpected instruction (a far jump before lgdt, a call, an interrupt) cannot slip through.
/// The CPU starts as relocate_kernel leaves it: GPRs zero, RSP 8 bytes into a page we do not own,
/// GDTR limit 0.
/// </summary>
internal sealed class PurgatoryEmulator
{
    private readonly List<(ulong Start, byte[] Bytes)> _memory = [];
    private readonly ulong[] _gpr = new ulong[16];
    private readonly Dictionary<ulong, Instruction> _decoded = [];
    private bool _zero;
    private bool _executedLgdt;

    public ulong Rip { get; private set; }
    public ulong GdtBase { get; private set; }
    public ushort GdtLimit { get; private set; }
    public ushort Cs { get; private set; } = 0x10;
    public Dictionary<Register, ushort> Selectors { get; } = [];
    public StringBuilder Serial { get; } = new();
    public bool Halted { get; private set; }
    public long Executed { get; private set; }

    /// <summary>Instructions before the first lgdt: the only ones that may run while the GDT and IDT are invalid.</summary>
    public List<Mnemonic> BeforeLgdt { get; } = [];

    /// <summary>The last instructions executed, for failure messages.</summary>
    public Queue<string> Trace { get; } = new();

    public void Map(ulong start, byte[] bytes) => _memory.Add((start, bytes));

    public ulong Reg(Register r) => _gpr[Index(r)];

    /// <summary>Runs from <paramref name="entry"/> until a jump leaves <paramref name="code"/> (returns its target) or hlt.</summary>
    public ulong? Run(ulong entry, ulong initialRsp, KdumpSharp.Memory.PhysicalRange stopOutside, long limit = 50_000_000)
    {
        Rip = entry;
        _gpr[Index(Register.RSP)] = initialRsp;
        while (Executed++ < limit)
        {
            if (!_decoded.TryGetValue(Rip, out Instruction i))
            {
                (byte[] code, int offset) = Find(Rip, 1);
                var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code, offset, code.Length - offset));
                decoder.IP = Rip;
                i = decoder.Decode();
                _decoded[Rip] = i;
            }
            if (!_executedLgdt)
                BeforeLgdt.Add(i.Mnemonic);
            Rip = i.NextIP;
            Trace.Enqueue($"{i.IP:x}: {i}");
            if (Trace.Count > 12)
                Trace.Dequeue();
            ulong? target = Step(i);
            if (Halted)
                return null;
            if (target is ulong t)
            {
                if (!stopOutside.Contains(new KdumpSharp.Memory.PhysicalAddress(t)))
                    return t;
                Rip = t;
            }
        }
        throw new AssertionException($"purgatory still running after {limit} instructions at 0x{Rip:x}");
    }

    private ulong? Step(in Instruction i)
    {
        switch (i.Mnemonic)
        {
            case Mnemonic.Cli or Mnemonic.Cld:
                return null;
            case Mnemonic.Lgdt:
                ulong at = Address(i);
                GdtLimit = BinaryPrimitives.ReadUInt16LittleEndian(Read(at, 2));
                GdtBase = BinaryPrimitives.ReadUInt64LittleEndian(Read(at + 2, 8));
                _executedLgdt = true;
                return null;
            case Mnemonic.Mov when i.Op0Kind == OpKind.Register && i.Op0Register.IsSegmentRegister():
                Require(_executedLgdt, "segment register loaded before lgdt");
                Selectors[i.Op0Register] = (ushort)Value(i, 1);
                return null;
            case Mnemonic.Mov or Mnemonic.Movzx or Mnemonic.Lea:
                Set(i.Op0Register, i.Mnemonic == Mnemonic.Lea ? Address(i) : Value(i, 1));
                return null;
            case Mnemonic.Push:
                Push(Value(i, 0));
                return null;
            case Mnemonic.Retf:
                Require(_executedLgdt && GdtLimit > 0, "far return before lgdt");
                ulong rip = Pop();
                Cs = (ushort)Pop();
                return rip;
            case Mnemonic.Xor:
                Set(i.Op0Register, Value(i, 0) ^ Value(i, 1));
                return null;
            case Mnemonic.Imul:
                Set(i.Op0Register, Value(i, 0) * Value(i, 1));
                return null;
            case Mnemonic.Rol:
                Set(i.Op0Register, ulong.RotateLeft(Value(i, 0), (int)Value(i, 1)));
                return null;
            case Mnemonic.Add:
                Set(i.Op0Register, Value(i, 0) + Value(i, 1));
                return null;
            case Mnemonic.Inc or Mnemonic.Dec:
                ulong v = Trim(i.Op0Register, Value(i, 0) + (i.Mnemonic == Mnemonic.Inc ? 1UL : ulong.MaxValue));
                Set(i.Op0Register, v);
                _zero = v == 0;
                return null;
            case Mnemonic.Test:
                _zero = Trim(i.Op0Register, Value(i, 0) & Value(i, 1)) == 0;
                return null;
            case Mnemonic.Cmp:
                _zero = Value(i, 0) == Value(i, 1);
                return null;
            case Mnemonic.Je:
                return _zero ? i.NearBranchTarget : null;
            case Mnemonic.Jne:
                return _zero ? null : i.NearBranchTarget;
            case Mnemonic.Jmp:
                return i.Op0Kind == OpKind.Memory ? BinaryPrimitives.ReadUInt64LittleEndian(Read(Address(i), 8)) : i.NearBranchTarget;
            case Mnemonic.In:
                Require(Reg(Register.RDX) == 0x3FD, "in from a port other than the UART line status");
                Set(Register.AL, 0x60); // transmitter empty
                return null;
            case Mnemonic.Out:
                Require(Reg(Register.RDX) == 0x3F8, "out to a port other than COM1");
                Serial.Append((char)(byte)Reg(Register.RAX));
                return null;
            case Mnemonic.Hlt:
                Halted = true;
                return null;
            default:
                throw new AssertionException($"unexpected instruction {i} at 0x{i.IP:x}");
        }
    }

    private static void Require(bool ok, string what)
    {
        if (!ok)
            throw new AssertionException(what);
    }

    private ulong Value(in Instruction i, int operand) => i.GetOpKind(operand) switch
    {
        OpKind.Register => Trim(i.GetOpRegister(operand), Reg(i.GetOpRegister(operand))),
        OpKind.Memory => i.MemorySize switch
        {
            MemorySize.UInt8 => Read(Address(i), 1)[0],
            MemorySize.UInt64 or MemorySize.Int64 => BinaryPrimitives.ReadUInt64LittleEndian(Read(Address(i), 8)),
            var s => throw new AssertionException($"memory operand size {s} in {i}"),
        },
        OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate64
            or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64 or OpKind.Immediate8_2nd => i.GetImmediate(operand),
        var k => throw new AssertionException($"operand kind {k} in {i}"),
    };

    private ulong Address(in Instruction i)
    {
        if (i.IsIPRelativeMemoryOperand)
            return i.IPRelativeMemoryAddress;
        Require(i.MemoryIndex == Register.None && i.MemoryBase != Register.None, $"absolute or indexed address in {i}");
        return Reg(i.MemoryBase) + i.MemoryDisplacement64;
    }

    private static int Index(Register r) => r.GetFullRegister() - Register.RAX;

    private static ulong Trim(Register r, ulong v) => r.GetSize() switch { 1 => v & 0xff, 2 => v & 0xffff, 4 => v & 0xffffffff, _ => v };

    private void Set(Register r, ulong v)
    {
        int n = Index(r);
        _gpr[n] = r.GetSize() switch
        {
            1 => (_gpr[n] & ~0xffUL) | (v & 0xff),
            4 => v & 0xffffffff, // 32-bit writes zero-extend
            8 => v,
            var s => throw new AssertionException($"{s}-byte register write"),
        };
    }

    private void Push(ulong v)
    {
        ulong rsp = Reg(Register.RSP) - 8;
        _gpr[Index(Register.RSP)] = rsp;
        BinaryPrimitives.WriteUInt64LittleEndian(Span(rsp, 8), v);
    }

    private ulong Pop()
    {
        ulong rsp = Reg(Register.RSP);
        _gpr[Index(Register.RSP)] = rsp + 8;
        return BinaryPrimitives.ReadUInt64LittleEndian(Read(rsp, 8));
    }

    private ReadOnlySpan<byte> Read(ulong address, int length) => Span(address, length);

    private Span<byte> Span(ulong address, int length)
    {
        (byte[] bytes, int offset) = Find(address, length);
        return bytes.AsSpan(offset, length);
    }

    private (byte[] Bytes, int Offset) Find(ulong address, int length)
    {
        foreach ((ulong start, byte[] bytes) in _memory)
            if (address >= start && address - start + (ulong)length <= (ulong)bytes.Length)
                return (bytes, (int)(address - start));
        throw new AssertionException($"access to unmapped memory 0x{address:x} (+{length})");
    }
}
