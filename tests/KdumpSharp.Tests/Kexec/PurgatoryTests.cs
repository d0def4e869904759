using System.Buffers.Binary;
using Iced.Intel;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Kexec;

public class PurgatoryTests
{
    // Above 4 GiB on purpose: every data reference must be RIP-relative to reach it.
    private const ulong PurgatoryAddress = 0x1_7ffe_0000;
    private const ulong KernelAddress = 0x1_6000_0000;
    private const ulong InitrdAddress = 0x1_7000_0000;
    private const ulong BootParamsAddress = 0x1_7ffd_0000;
    private const ulong ControlPageRsp = 0x5000 + 0xff8;

    private static List<VerifiedSegment> Segments()
    {
        var random = new Random(42);
        byte[] kernel = new byte[0x8_0000 + 5]; // bufsz not a multiple of 8: the tail is zero-padded
        random.NextBytes(kernel);
        byte[] initrd = new byte[0x2_1000];
        random.NextBytes(initrd);
        byte[] bootParams = new byte[0x1100];
        random.NextBytes(bootParams);
        return
        [
            new("kernel", new KexecSegment(kernel, new PhysicalAddress(KernelAddress), 0x10_0000)),
            new("initrd", new KexecSegment(initrd, new PhysicalAddress(InitrdAddress), 0x2_1000)),
            new("boot_params", new KexecSegment(bootParams, new PhysicalAddress(BootParamsAddress), 0x2000)),
        ];
    }

    /// <summary>What the kernel leaves in physical memory after loading: each segment's buffer, zero-filled to memsz.</summary>
    private static PurgatoryEmulator Load(Purgatory purgatory, IEnumerable<VerifiedSegment> segments)
    {
        var cpu = new PurgatoryEmulator();
        foreach (KexecSegment s in segments.Select(v => v.Segment).Append(purgatory.Segment))
        {
            byte[] memory = new byte[s.MemorySize];
            s.Buffer.Span.CopyTo(memory);
            cpu.Map(s.Destination.Value, memory);
        }
        return cpu;
    }

    [Test]
    public void Verifies_every_segment_then_enters_the_kernel_as_the_64_bit_boot_protocol_requires()
    {
        List<VerifiedSegment> segments = Segments();
        Purgatory purgatory = Purgatory.Build(PurgatoryAddress, BootParamsAddress, KernelAddress + 0x200, segments);
        PurgatoryEmulator cpu = Load(purgatory, segments);

        ulong? target = null;
        try
        {
            target = cpu.Run(purgatory.Entry, ControlPageRsp, new PhysicalRange(purgatory.Segment.Destination, purgatory.Segment.End));
        }
        catch (AssertionException e)
        {
            Assert.Fail($"{e.Message}; last instructions:\n{string.Join("\n", cpu.Trace)}");
        }

        Assert.That(target, Is.EqualTo(KernelAddress + 0x200), "jumps to startup_64");
        Assert.That(cpu.BeforeLgdt, Is.EqualTo(new[] { Mnemonic.Cli, Mnemonic.Cld, Mnemonic.Lgdt }), "nothing that can fault before our GDT");
        Assert.That(cpu.GdtBase, Is.EqualTo(PurgatoryAddress));
        Assert.That(cpu.GdtLimit, Is.EqualTo(31));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(purgatory.Bytes.AsSpan(0x10)), Is.EqualTo(0x00AF9A000000FFFFUL), "__BOOT_CS: 64-bit code");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(purgatory.Bytes.AsSpan(0x18)), Is.EqualTo(0x00CF92000000FFFFUL), "__BOOT_DS: flat data");
        Assert.That(cpu.Cs, Is.EqualTo(0x10));
        Assert.That(cpu.Selectors, Is.EquivalentTo(new Dictionary<Register, ushort>
        {
            [Register.DS] = 0x18, [Register.ES] = 0x18, [Register.SS] = 0x18, [Register.FS] = 0x18, [Register.GS] = 0x18,
        }));
        Assert.That(cpu.Reg(Register.RSI), Is.EqualTo(BootParamsAddress), "RSI = boot_params");
        Assert.That(cpu.Reg(Register.RSP), Is.InRange(PurgatoryAddress + purgatory.MemorySize - 0x1000, PurgatoryAddress + purgatory.MemorySize), "stack in our own segment");
        foreach (Register r in new[] { Register.RAX, Register.RBX, Register.RCX, Register.RDX, Register.RDI, Register.RBP, Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15 })
            Assert.That(cpu.Reg(r), Is.Zero, $"{r} is zero at the kernel entry");
        Assert.That(cpu.Serial.ToString(), Is.Empty);
        // Every qword of every segment was hashed: 3 ALU ops + pointer/count/branch per qword.
        ulong qwords = segments.Aggregate(0UL, (sum, s) => sum + s.Segment.MemorySize / 8);
        Assert.That(cpu.Executed, Is.GreaterThan((long)qwords * 6));
        TestContext.Out.WriteLine($"{cpu.Executed} instructions for {qwords * 8 >> 10} KiB verified");
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    public void The_test_hook_makes_it_refuse_to_jump_and_name_the_segment(int corrupt)
    {
        List<VerifiedSegment> segments = Segments();
        Purgatory purgatory = Purgatory.Build(PurgatoryAddress, BootParamsAddress, KernelAddress + 0x200, segments, wrongChecksumFor: corrupt);
        PurgatoryEmulator cpu = Load(purgatory, segments);

        Assert.That(cpu.Run(purgatory.Entry, ControlPageRsp, new PhysicalRange(purgatory.Segment.Destination, purgatory.Segment.End)), Is.Null, "halted, no jump");
        Assert.That(cpu.Halted, Is.True);
        VerifiedSegment bad = segments[corrupt];
        Assert.That(cpu.Serial.ToString(), Is.EqualTo($"kds purgatory: segment {corrupt} ({bad.Name} @0x{bad.Segment.Destination.Value:x}) damaged; halted\r\n"));
    }

    [TestCase(InitrdAddress + 0x1_0007, TestName = "Damage inside the initrd is caught")]
    [TestCase(KernelAddress + 0xf_fff8, TestName = "Damage in the zero tail past bufsz is caught")]
    public void One_damaged_byte_in_memory_stops_it(ulong address)
    {
        List<VerifiedSegment> segments = Segments();
        Purgatory purgatory = Purgatory.Build(PurgatoryAddress, BootParamsAddress, KernelAddress + 0x200, segments);
        var cpu = new PurgatoryEmulator();
        foreach (KexecSegment s in segments.Select(v => v.Segment).Append(purgatory.Segment))
        {
            byte[] memory = new byte[s.MemorySize];
            s.Buffer.Span.CopyTo(memory);
            if (address >= s.Destination.Value && address < s.End.Value)
                memory[address - s.Destination.Value] ^= 0x40;
            cpu.Map(s.Destination.Value, memory);
        }
        Assert.That(cpu.Run(purgatory.Entry, ControlPageRsp, new PhysicalRange(purgatory.Segment.Destination, purgatory.Segment.End)), Is.Null);
        Assert.That(cpu.Serial.ToString(), Does.StartWith("kds purgatory: segment ").And.EndWith("damaged; halted\r\n"));
    }

    [Test]
    public void Disassembly_matches_the_design_instruction_by_instruction()
    {
        List<VerifiedSegment> segments = Segments();
        Purgatory purgatory = Purgatory.Build(PurgatoryAddress, BootParamsAddress, KernelAddress + 0x200, segments);
        int codeOffset = Purgatory.CodeOffset(segments.Count);
        Assert.That(purgatory.Entry, Is.EqualTo(PurgatoryAddress + (ulong)codeOffset));
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(purgatory.Bytes, codeOffset, purgatory.Bytes.Length - codeOffset));
        decoder.IP = purgatory.Entry;
        var code = new List<Instruction>();
        while (decoder.IP < PurgatoryAddress + (ulong)purgatory.Bytes.Length)
            code.Add(decoder.Decode());
        var formatter = new NasmFormatter();
        var output = new StringOutput();
        string Text(Instruction i) { formatter.Format(i, output); return output.ToStringAndReset(); }
        TestContext.Out.WriteLine(string.Join("\n", code.Select(i => $"{i.IP:x}: {Text(i)}")));

        Assert.That(code.Select(i => i.Code), Does.Not.Contain(Code.INVALID));
        Assert.That(code.Take(9).Select(Text), Is.EqualTo(new[]
        {
            "cli", "cld", $"lgdt [rel {PurgatoryAddress + 0x20:X}h]", "mov eax,18h",
            "mov ds,eax", "mov es,eax", "mov ss,eax", "mov fs,eax", "mov gs,eax",
        }).Using<string>((a, b) => string.Compare(a.Replace("0", ""), b.Replace("0", ""), StringComparison.OrdinalIgnoreCase)));
        Assert.That(code[2].IsIPRelativeMemoryOperand && code[2].IPRelativeMemoryAddress == PurgatoryAddress + 0x20, Is.True, "lgdt is RIP-relative to the GDTR");
        Assert.That(code[9].Code, Is.EqualTo(Code.Mov_r64_imm64));
        Assert.That(code[9].Op0Register, Is.EqualTo(Register.RSP));
        Assert.That(code[9].Immediate64, Is.EqualTo(PurgatoryAddress + purgatory.MemorySize), "stack top = end of our segment");
        Assert.That(code.Count(i => i.Code == Code.Retfq), Is.EqualTo(1), "one lretq to reload CS");

        // The checksum loop, exactly: xor rax,[rsi]; imul rax,r8; rol rax,29; add rsi,8; dec rcx; jne loop.
        int x = code.FindIndex(i => i.Mnemonic == Mnemonic.Xor && i.Op1Kind == OpKind.Memory);
        Assert.That(code.Skip(x).Take(6).Select(Text), Is.EqualTo(new[] { "xor rax,[rsi]", "imul rax,r8", "rol rax,1Dh", "add rsi,8", "dec rcx", $"jne short {code[x].IP:X16}h" })
            .Using<string>((a, b) => string.Compare(a.Replace("0", ""), b.Replace("0", ""), StringComparison.OrdinalIgnoreCase)));
        Instruction multiplier = code.Single(i => i.Code == Code.Mov_r64_imm64 && i.Op0Register == Register.R8);
        Assert.That(multiplier.Immediate64, Is.EqualTo(PurgatoryChecksum.Multiplier));
        Instruction seed = code.Single(i => i.Code == Code.Mov_r64_imm64 && i.Op0Register == Register.RAX);
        Assert.That(seed.Immediate64, Is.EqualTo(PurgatoryChecksum.Seed));

        Instruction rsi = code.Single(i => i.Mnemonic == Mnemonic.Mov && i.Op0Register == Register.RSI && i.IsIPRelativeMemoryOperand);
        Assert.That(rsi.IPRelativeMemoryAddress, Is.EqualTo(PurgatoryAddress + Purgatory.BootParamsPointerOffset));
        Instruction jump = code.Single(i => i.Mnemonic == Mnemonic.Jmp && i.Op0Kind == OpKind.Memory);
        Assert.That(jump.IPRelativeMemoryAddress, Is.EqualTo(PurgatoryAddress + Purgatory.KernelEntryOffset));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(purgatory.Bytes.AsSpan(Purgatory.KernelEntryOffset)), Is.EqualTo(KernelAddress + 0x200));
        Assert.That(code.Where(i => i.Mnemonic is Mnemonic.Call or Mnemonic.Int or Mnemonic.Int3 or Mnemonic.Syscall or Mnemonic.Iretq), Is.Empty);
        Assert.That(code[^3..].Select(i => i.Mnemonic), Is.EqualTo(new[] { Mnemonic.Cli, Mnemonic.Hlt, Mnemonic.Jmp }), "halt forever");
        Assert.That(code[^1].NearBranchTarget, Is.EqualTo(code[^3].IP));
    }

    [Test]
    public void The_table_holds_each_segment_with_its_checksum()
    {
        List<VerifiedSegment> segments = Segments();
        Purgatory purgatory = Purgatory.Build(PurgatoryAddress, BootParamsAddress, KernelAddress + 0x200, segments);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(purgatory.Bytes.AsSpan(Purgatory.SegmentCountOffset)), Is.EqualTo(3));
        for (int i = 0; i < segments.Count; i++)
        {
            ReadOnlySpan<byte> e = purgatory.Bytes.AsSpan(Purgatory.TableOffset + i * Purgatory.TableEntrySize);
            KexecSegment s = segments[i].Segment;
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(e), Is.EqualTo(s.Destination.Value));
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(e[8..]), Is.EqualTo(s.MemorySize / 8));
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(e[16..]), Is.EqualTo(PurgatoryChecksum.Compute(s.Buffer.Span, s.MemorySize)));
        }
        Assert.That(purgatory.MemorySize % 4096, Is.Zero);
        Assert.That((ulong)purgatory.Bytes.Length, Is.LessThanOrEqualTo(purgatory.MemorySize - 4096), "a whole stack page past the code");
    }

    [Test]
    public void Checksum_reference_values()
    {
        Assert.That(PurgatoryChecksum.Compute([], 0), Is.EqualTo(PurgatoryChecksum.Seed));
        byte[] one = BitConverter.GetBytes(0x0123456789abcdefUL);
        ulong mixed = PurgatoryChecksum.Seed ^ 0x0123456789abcdefUL;
        ulong expected = ulong.RotateLeft(unchecked(mixed * PurgatoryChecksum.Multiplier), 29);
        Assert.That(PurgatoryChecksum.Compute(one, 8), Is.EqualTo(expected));
        Assert.That(PurgatoryChecksum.Compute(one, 16), Is.EqualTo(PurgatoryChecksum.Step(expected, 0)), "zero tail hashed");
        Assert.That(PurgatoryChecksum.Compute(one[..5], 8), Is.EqualTo(PurgatoryChecksum.Compute([.. one[..5], 0, 0, 0], 8)), "partial qword zero-padded");

        var random = new Random(7);
        byte[] block = new byte[4096];
        random.NextBytes(block);
        ulong good = PurgatoryChecksum.Compute(block, 8192);
        for (int trial = 0; trial < 2000; trial++)
        {
            byte[] copy = (byte[])block.Clone();
            int at = random.Next(block.Length);
            copy[at] ^= (byte)random.Next(1, 256);
            Assert.That(PurgatoryChecksum.Compute(copy, 8192), Is.Not.EqualTo(good), $"change at {at} undetected");
        }
    }

    [Test]
    public void Build_refuses_bad_input()
    {
        Assert.Throws<ArgumentException>(() => Purgatory.Build(0x1234, 0, 0, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Purgatory.Build(0x1000, 0, 0, Segments(), wrongChecksumFor: 3));
        Assert.Throws<KexecException>(() => Purgatory.Build(0x1000, 0, 0, Enumerable.Repeat(Segments()[1], 17).ToList()));
    }
}
