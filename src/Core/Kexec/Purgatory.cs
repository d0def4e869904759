using System.Buffers.Binary;
using System.Text;
using Iced.Intel;
using KdumpSharp.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace KdumpSharp.Kexec;

/// <summary>A segment the purgatory checks before it starts the kernel, with a name for the failure message.</summary>
public sealed record VerifiedSegment(string Name, KexecSegment Segment);

/// <summary>
/// The purgatory: the code kexec_load's entry point runs after the old kernel is gone and before
/// the new one starts. It is x86-64 machine code generated here with Iced for the one physical
/// address it is loaded at (no relocation step).
///
/// What it is entered with (arch/x86/kernel/machine_kexec_64.c, relocate_kernel_64.S): long
/// mode, identity-mapped page tables, interrupts off, all GPRs zero except RSP (8 bytes on a
/// kernel control page), and the IDT and GDT *invalidated* (limit 0) with CS = 0x10 still cached.
/// So until our own lgdt no instruction may fault, load a selector or far-jump: the first
/// instructions are cli, cld and a RIP-relative lgdt.
///
/// What it does, in order:
/// <list type="number">
/// <item>lgdt its own GDT (0x10: 64-bit code, L=1; 0x18: flat data), the selectors the 64-bit
/// boot protocol requires (Documentation/x86/boot.rst), load DS/ES/SS/FS/GS = 0x18.</item>
/// <item>RSP = top of its own stack page (the last page of this segment), then lretq to 0x10 so
/// CS too comes from our GDT.</item>
/// <item>For each other segment, <see cref="PurgatoryChecksum"/> over [mem, mem + memsz),
/// compared with the value computed at load time. On a mismatch it writes one line naming the
/// segment to the serial port at 0x3F8 and halts forever (cli; hlt) — it never starts a
/// kernel from damaged memory.</item>
/// <item>RSI = boot_params, every other GPR but RSP zero, jmp to the kernel's 64-bit entry
/// (load address + 0x200).</item>
/// </list>
/// Segment layout: GDT, GDTR, parameters and the segment table first (fixed offsets below), the
/// code after them, then one zero page of stack.
/// </summary>
public sealed class Purgatory
{
    public const ushort CodeSelector = 0x10;             // __BOOT_CS
    public const ushort DataSelector = 0x18;             // __BOOT_DS
    public const ulong CodeDescriptor = 0x00AF9A000000FFFF; // base 0, limit 4G, present, exec/read, L=1
    public const ulong DataDescriptor = 0x00CF92000000FFFF; // base 0, limit 4G, present, read/write, 32-bit (ignored in long mode)

    // Data block at the start of the segment.
    public const int GdtOffset = 0x00;                   // 4 descriptors: null, unused, code 0x10, data 0x18
    public const int GdtSize = 4 * 8;
    public const int GdtrOffset = 0x20;                  // u16 limit, u64 base
    public const int BootParamsPointerOffset = 0x30;     // u64: boot_params physical address (goes to RSI)
    public const int KernelEntryOffset = 0x38;           // u64: kernel load address + 0x200
    public const int SegmentCountOffset = 0x40;          // u64: number of table entries
    public const int TableOffset = 0x48;                 // VerifiedSegment entries, TableEntrySize bytes each

    // One table entry.
    public const int EntryStartOffset = 0;               // u64: mem
    public const int EntryQwordsOffset = 8;              // u64: memsz / 8
    public const int EntryExpectedOffset = 16;           // u64: PurgatoryChecksum at load time
    public const int EntryMessageOffset = 24;            // NUL-terminated ASCII line for the serial port
    public const int EntryMessageSize = 104;
    public const int TableEntrySize = EntryMessageOffset + EntryMessageSize;

    public const int StackSize = PageFrameNumber.PageSize;
    public const ushort SerialPort = 0x3F8;              // COM1 data register
    public const ushort SerialLineStatus = SerialPort + 5; // LSR; bit 5 = transmit holding register empty
    public const byte SerialTransmitEmpty = 0x20;

    /// <summary>Polls of the line status register per character before sending anyway (a wedged UART must not hang us before hlt).</summary>
    public const uint SerialPollLimit = 1 << 20;

    private Purgatory(byte[] code, ulong address, ulong entry, ulong memorySize)
    {
        Bytes = code;
        Address = address;
        Entry = entry;
        MemorySize = memorySize;
    }

    /// <summary>The segment's bytes (data block and code; the stack is the zero-filled tail).</summary>
    public byte[] Bytes { get; }

    /// <summary>Physical address the bytes were generated for.</summary>
    public ulong Address { get; }

    /// <summary>The kexec entry point: first instruction.</summary>
    public ulong Entry { get; }

    /// <summary>The segment's memsz: code and data rounded to a page, plus the stack page.</summary>
    public ulong MemorySize { get; }

    public KexecSegment Segment => new(Bytes, new PhysicalAddress(Address), MemorySize);

    /// <summary>The segment's memsz for <paramref name="segments"/> verified segments, known before the code is generated.</summary>
    public static ulong MemorySizeFor(int segments) =>
        BzImage.AlignUp((ulong)CodeOffset(segments) + MaxCodeSize, PageFrameNumber.PageSize) + StackSize;

    /// <summary>Bytes of the data block before the code, for a segment count.</summary>
    public static int CodeOffset(int segments) => (int)BzImage.AlignUp((ulong)(TableOffset + segments * TableEntrySize), 16);

    /// <summary>
    /// Generates the purgatory for <paramref name="address"/> (page-aligned). <paramref name="wrongChecksumFor"/>
    /// is a test hook: the table then holds a deliberately wrong expected checksum for that segment,
    /// so a VM test can show the purgatory refuses to start the kernel (the kernel's memory cannot
    /// be corrupted from user space on a locked-down /dev/mem).
    /// </summary>
    public static Purgatory Build(ulong address, ulong bootParams, ulong kernelEntry, IReadOnlyList<VerifiedSegment> segments, int? wrongChecksumFor = null)
    {
        if (address % PageFrameNumber.PageSize != 0)
            throw new ArgumentException($"purgatory address 0x{address:x} is not page-aligned", nameof(address));
        if (segments.Count > KexecImage.MaxSegments)
            throw new KexecException($"{segments.Count} segments to verify, more than kexec's {KexecImage.MaxSegments}");
        if (wrongChecksumFor is int w && (w < 0 || w >= segments.Count))
            throw new ArgumentOutOfRangeException(nameof(wrongChecksumFor), $"no segment {w} to corrupt");

        int codeOffset = CodeOffset(segments.Count);
        byte[] data = new byte[codeOffset];
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(GdtOffset + CodeSelector), CodeDescriptor);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(GdtOffset + DataSelector), DataDescriptor);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(GdtrOffset), GdtSize - 1);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(GdtrOffset + 2), address + GdtOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(BootParamsPointerOffset), bootParams);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(KernelEntryOffset), kernelEntry);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(SegmentCountOffset), (ulong)segments.Count);
        for (int i = 0; i < segments.Count; i++)
        {
            KexecSegment s = segments[i].Segment;
            if (s.MemorySize % 8 != 0)
                throw new KexecException($"segment {segments[i].Name} memsz 0x{s.MemorySize:x} is not a multiple of 8");
            Span<byte> entry = data.AsSpan(TableOffset + i * TableEntrySize, TableEntrySize);
            ulong expected = PurgatoryChecksum.Compute(s.Buffer.Span, s.MemorySize);
            if (wrongChecksumFor == i)
                expected ^= 1;
            BinaryPrimitives.WriteUInt64LittleEndian(entry[EntryStartOffset..], s.Destination.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[EntryQwordsOffset..], s.MemorySize / 8);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[EntryExpectedOffset..], expected);
            string line = $"kds purgatory: segment {i} ({segments[i].Name} @0x{s.Destination.Value:x}) damaged; halted\r\n";
            byte[] ascii = Encoding.ASCII.GetBytes(line.Length < EntryMessageSize ? line : line[..(EntryMessageSize - 3)] + "\r\n");
            ascii.CopyTo(entry[EntryMessageOffset..]);
        }

        ulong codeAddress = address + (ulong)codeOffset;
        ulong memorySize = MemorySizeFor(segments.Count);
        byte[] bytes = Assemble(address, data, address + memorySize);
        if (bytes.Length > codeOffset + MaxCodeSize)
            throw new InvalidOperationException($"purgatory code is 0x{bytes.Length - codeOffset:x} bytes, more than the 0x{MaxCodeSize:x} reserved for it");
        return new Purgatory(bytes, address, codeAddress, memorySize);
    }

    /// <summary>Room reserved for the code; the stack page follows the page holding data and code.</summary>
    private const int MaxCodeSize = 0x200;

    /// <summary>
    /// The whole segment for <paramref name="segment"/>: the data block emitted as bytes with labels
    /// on its fields, so the code reaches every field RIP-relative (no absolute 32-bit addressing,
    /// which could not reach a crash region above 2 GiB), then the code.
    /// </summary>
    private static byte[] Assemble(ulong segment, byte[] data, ulong stackTop)
    {
        var a = new Assembler(64);
        Label gdtr = a.CreateLabel();
        Label bootParamsPointer = a.CreateLabel();
        Label kernelEntry = a.CreateLabel();
        Label segmentCount = a.CreateLabel();
        Label table = a.CreateLabel();
        Label start = a.CreateLabel();
        Label reloaded = a.CreateLabel();
        Label segmentLoop = a.CreateLabel();
        Label qwordLoop = a.CreateLabel();
        Label compare = a.CreateLabel();
        Label enter = a.CreateLabel();
        Label mismatch = a.CreateLabel();
        Label nextChar = a.CreateLabel();
        Label waitUart = a.CreateLabel();
        Label send = a.CreateLabel();
        Label halt = a.CreateLabel();

        a.db(data, GdtOffset, GdtrOffset - GdtOffset);
        a.Label(ref gdtr);
        a.db(data, GdtrOffset, BootParamsPointerOffset - GdtrOffset);
        a.Label(ref bootParamsPointer);
        a.db(data, BootParamsPointerOffset, 8);
        a.Label(ref kernelEntry);
        a.db(data, KernelEntryOffset, 8);
        a.Label(ref segmentCount);
        a.db(data, SegmentCountOffset, 8);
        a.Label(ref table);
        a.db(data, TableOffset, data.Length - TableOffset);

        // 1. No fault is survivable yet (IDT limit 0): nothing but register moves and our lgdt.
        a.Label(ref start);
        a.cli();
        a.cld();
        a.lgdt(__[gdtr]);
        a.mov(eax, DataSelector);
        a.mov(ds, eax);
        a.mov(es, eax);
        a.mov(ss, eax);
        a.mov(fs, eax);
        a.mov(gs, eax);
        // 2. Our stack, then a far return so CS is reloaded from our GDT too.
        a.mov(rsp, stackTop);
        a.push(CodeSelector);
        a.lea(rax, __[reloaded]);
        a.push(rax);
        a.AddInstruction(Instruction.Create(Code.Retfq));
        a.Label(ref reloaded);

        // 3. rbx walks the table, r12 counts segments, r8 holds the multiplier.
        a.lea(rbx, __[table]);
        a.mov(r12, __qword_ptr[segmentCount]);
        a.mov(r8, PurgatoryChecksum.Multiplier);
        a.test(r12, r12);
        a.jz(enter);
        a.Label(ref segmentLoop);
        a.mov(rsi, __qword_ptr[rbx + EntryStartOffset]);
        a.mov(rcx, __qword_ptr[rbx + EntryQwordsOffset]);
        a.mov(rax, PurgatoryChecksum.Seed);
        a.test(rcx, rcx);
        a.jz(compare);
        a.Label(ref qwordLoop);
        a.xor(rax, __qword_ptr[rsi]);
        a.imul(rax, r8);
        a.rol(rax, (byte)PurgatoryChecksum.Rotation);
        a.add(rsi, 8);
        a.dec(rcx);
        a.jnz(qwordLoop);
        a.Label(ref compare);
        a.cmp(rax, __qword_ptr[rbx + EntryExpectedOffset]);
        a.jne(mismatch);
        a.add(rbx, TableEntrySize);
        a.dec(r12);
        a.jnz(segmentLoop);

        // 4. The 64-bit boot protocol: RSI = boot_params; the rest zero (as kexec-tools' entry64 leaves them).
        a.Label(ref enter);
        a.mov(rsi, __qword_ptr[bootParamsPointer]);
        a.xor(eax, eax);
        a.xor(ebx, ebx);
        a.xor(ecx, ecx);
        a.xor(edx, edx);
        a.xor(edi, edi);
        a.xor(ebp, ebp);
        a.xor(r8d, r8d);
        a.xor(r9d, r9d);
        a.xor(r10d, r10d);
        a.xor(r11d, r11d);
        a.xor(r12d, r12d);
        a.xor(r13d, r13d);
        a.xor(r14d, r14d);
        a.xor(r15d, r15d);
        a.jmp(__qword_ptr[kernelEntry]);

        // Mismatch: rbx points at the failing entry; print its message, then stop for good.
        a.Label(ref mismatch);
        a.lea(rsi, __[rbx + EntryMessageOffset]);
        a.Label(ref nextChar);
        a.movzx(ecx, __byte_ptr[rsi]);
        a.test(ecx, ecx);
        a.jz(halt);
        a.mov(r9d, SerialPollLimit);
        a.mov(edx, SerialLineStatus);
        a.Label(ref waitUart);
        a.@in(al, dx);
        a.test(al, SerialTransmitEmpty);
        a.jnz(send);
        a.dec(r9d);
        a.jnz(waitUart);
        a.Label(ref send);
        a.mov(edx, SerialPort);
        a.mov(eax, ecx);
        a.@out(dx, al);
        a.inc(rsi);
        a.jmp(nextChar);
        a.Label(ref halt);
        a.cli();
        a.hlt();
        a.jmp(halt);

        using var stream = new MemoryStream();
        AssemblerResult result = a.Assemble(new StreamCodeWriter(stream), segment, BlockEncoderOptions.ReturnNewInstructionOffsets);
        if (result.GetLabelRIP(start) != segment + (ulong)data.Length)
            throw new InvalidOperationException("purgatory data block did not assemble to its computed size");
        return stream.ToArray();
    }
}
