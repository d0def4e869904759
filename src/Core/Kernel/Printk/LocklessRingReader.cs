using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;

namespace KdumpSharp.Kernel.Printk;

/// <summary>
/// Reads the 5.10+ lockless printk ring (kernel/printk/printk_ringbuffer.h/.c). Every size and offset
/// comes from VMCOREINFO (kernel/printk/printk.c log_buf_vmcoreinfo_setup); the walk and the
/// per-record decisions are those of kexec-tools util_lib/elf_info.c dump_dmesg_lockless() and
/// dump_record(), which makedumpfile's printk.c and crash's printk.c share.
/// </summary>
internal static class LocklessRingReader
{
    // state_var: the top two bits are the state, the rest the descriptor ID (printk_ringbuffer.h
    // DESC_FLAGS_SHIFT = BITS_PER_LONG - 2, DESC_ID_MASK). x86_64: unsigned long is 64 bits.
    private const int StateShift = 62;
    private const ulong IdMask = (1UL << StateShift) - 1;
    private const ulong StateCommitted = 1;
    private const ulong StateFinalized = 2;

    // A data block starts with the descriptor ID, an unsigned long (struct prb_data_block.id).
    private const int BlockIdBytes = sizeof(ulong);

    // _DESCS_COUNT(ct_bits) is 1U << ct_bits, so the kernel itself cannot have more than 31 bits.
    private const int MaxCountBits = 31;
    private const int MaxSizeBits = 62;

    public static KernelLog Read(VirtualMemory memory, Vmcoreinfo vmcoreinfo, DumpLimits limits)
    {
        var layout = new Layout(vmcoreinfo);

        // SYMBOL(prb) is the address of "struct printk_ringbuffer *prb", which points at
        // printk_rb_static or, after setup_log_buf() grew the log, printk_rb_dynamic.
        ulong prbAddress = memory.ReadUInt64(vmcoreinfo.RequireSymbol("prb"));
        byte[] rb = new byte[layout.RingBuffer.Size];
        memory.Read(prbAddress, rb);

        uint countBits = BinaryPrimitives.ReadUInt32LittleEndian(rb.AsSpan(layout.CountBits));
        uint sizeBits = BinaryPrimitives.ReadUInt32LittleEndian(rb.AsSpan(layout.SizeBits));
        if (countBits > MaxCountBits)
            throw new KernelDataException($"printk ring at 0x{prbAddress:x}: desc_ring.count_bits = {countBits} is not a plausible descriptor count");
        if (sizeBits > MaxSizeBits)
            throw new KernelDataException($"printk ring at 0x{prbAddress:x}: text_data_ring.size_bits = {sizeBits} is not a plausible ring size");
        long count = 1L << (int)countBits;
        long dataSize = 1L << (int)sizeBits;
        if (count > limits.MaxLogRecords)
            throw new KernelDataException($"printk ring at 0x{prbAddress:x} has {count} descriptors, more than the limit of {limits.MaxLogRecords} log records");
        long descBytes = count * layout.Desc.Size;
        long infoBytes = count * layout.Info.Size;
        if (dataSize > limits.MaxLogBufferBytes || descBytes + infoBytes + dataSize > limits.MaxLogBufferBytes)
            throw new KernelDataException($"printk ring at 0x{prbAddress:x} needs {descBytes} + {infoBytes} + {dataSize} bytes (descriptors, infos, text), more than the limit of {limits.MaxLogBufferBytes}");

        var descs = MemorySnapshot.Read(memory, "printk descriptor ring", ReadU64(rb, layout.Descs), descBytes);
        var infos = MemorySnapshot.Read(memory, "printk info array", ReadU64(rb, layout.Infos), infoBytes);
        var data = MemorySnapshot.Read(memory, "printk text ring", ReadU64(rb, layout.Data), dataSize);
        var problems = new List<string>();
        problems.AddRange(descs.Gaps);
        problems.AddRange(infos.Gaps);
        problems.AddRange(data.Gaps);

        // head_id and tail_id are atomic_long_t: read .counter. Walk tail..head inclusive (vmcore-dmesg:
        // "for (id = tail_id; id != head_id; id = id_inc(id))" then the head record). In a consistent
        // ring head - tail < count; if the dump says otherwise, read only the newest count IDs rather
        // than walking up to 2^62 of them.
        ulong headId = ReadU64(rb, layout.HeadId) & IdMask;
        ulong tailId = ReadU64(rb, layout.TailId) & IdMask;
        ulong span = ((headId - tailId) & IdMask) + 1;
        if (span > (ulong)count)
        {
            problems.Add($"printk ring tail_id 0x{tailId:x} and head_id 0x{headId:x} are {span} descriptors apart but the ring has {count}; only the newest {count} were read");
            tailId = (headId - (ulong)count + 1) & IdMask;
            span = (ulong)count;
        }

        var records = new List<LogRecord>();
        var skipped = new SkipCounter();
        for (ulong i = 0; i < span; i++)
        {
            ulong id = (tailId + i) & IdMask;
            long slot = (long)(id & (ulong)(count - 1));
            if (!descs.TryGet(slot * layout.Desc.Size, layout.Desc.Size, out ReadOnlyMemory<byte> descMemory))
            {
                skipped.Unreadable++;
                continue;
            }
            ReadOnlySpan<byte> desc = descMemory.Span;
            ulong stateVar = ReadU64(desc, layout.StateVar);
            ulong state = stateVar >> StateShift;
            // Skip a descriptor that is not this ID (reused or never written: desc_miss) or whose
            // record is reserved (being written at the crash) or reusable (dropped): only committed
            // and finalized records are complete (printk_ringbuffer.c get_desc_state/desc_read).
            if ((stateVar & IdMask) != id || (state != StateCommitted && state != StateFinalized))
                continue;
            if (!infos.TryGet(slot * layout.Info.Size, layout.Info.Size, out ReadOnlyMemory<byte> infoMemory))
            {
                skipped.Unreadable++;
                continue;
            }
            ReadOnlySpan<byte> info = infoMemory.Span;
            ulong seq = ReadU64(info, layout.Seq);
            ulong timestamp = ReadU64(info, layout.TsNsec);
            ushort textLength = BinaryPrimitives.ReadUInt16LittleEndian(info[layout.TextLen..]);
            var caller = new PrintkCaller(BinaryPrimitives.ReadUInt32LittleEndian(info[layout.CallerId..]));

            // Logical positions index the ring modulo its size. begin == next: no data block
            // (FAILED_LPOS/NO_LPOS are odd values used for both ends).
            ulong begin = ReadU64(desc, layout.LposBegin) & (ulong)(dataSize - 1);
            ulong next = ReadU64(desc, layout.LposNext) & (ulong)(dataSize - 1);
            if (begin == next)
            {
                records.Add(new LogRecord(LogRecordKind.DataLess, seq, timestamp, caller, ReadOnlyMemory<byte>.Empty));
                continue;
            }
            // A block that would cross the end of the ring is stored whole at offset 0 (its lpos
            // begin stays at the old end: printk_ringbuffer.c get_next_lpos/data_alloc). Since
            // 67e1b0052f6b ("printk_ringbuffer: don't needlessly wrap data blocks around", 6.19) a
            // block may also end exactly at the end of the ring, so next is 0 modulo the size: a
            // wrapped block cannot (it holds at least its ID at offset 0). vmcore-dmesg 2.0.25 takes
            // that case for a wrapped block and prints text_len bytes from offset 8; here it is read
            // where it is. Then comes the block's ID.
            if (begin > next)
            {
                if (next == 0)
                    next = (ulong)dataSize;
                else
                    begin = 0;
            }
            begin += BlockIdBytes;
            if (begin > next)
            {
                skipped.Corrupt++;
                skipped.FirstCorrupt ??= $"record seq {seq} (descriptor 0x{id:x}) has a text block of {next + BlockIdBytes - begin} bytes, too short for its ID";
                continue;
            }
            // text_len may be smaller than the block (alignment, a stripped newline) or larger
            // (a truncated message): print what both allow, as dump_record() does.
            int length = (int)Math.Min(textLength, next - begin);
            if (!data.TryGet((long)begin, length, out ReadOnlyMemory<byte> text))
            {
                skipped.Unreadable++;
                continue;
            }
            records.Add(new LogRecord(LogRecordKind.Text, seq, timestamp, caller, text));
        }
        skipped.Describe(problems);
        return new KernelLog(KernelLogFormat.Lockless, records, problems);
    }

    private static ulong ReadU64(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(bytes[offset..]);

    private sealed class SkipCounter
    {
        public long Unreadable;
        public long Corrupt;
        public string? FirstCorrupt;

        public void Describe(List<string> problems)
        {
            if (Unreadable > 0)
                problems.Add($"{Unreadable} printk records were skipped because their descriptor, info or text lies in memory the dump does not hold");
            if (Corrupt > 0)
                problems.Add($"{Corrupt} printk records were skipped as corrupt; the first: {FirstCorrupt}");
        }
    }

    /// <summary>Offsets into the copied printk_ringbuffer, prb_desc and printk_info, all from VMCOREINFO and checked against their SIZE().</summary>
    private sealed class Layout
    {
        public Layout(Vmcoreinfo v)
        {
            RingBuffer = StructLayout.Of(v, "printk_ringbuffer");
            Desc = StructLayout.Of(v, "prb_desc");
            Info = StructLayout.Of(v, "printk_info");
            int counter = StructLayout.Offset(v, "atomic_long_t.counter");
            int descRing = StructLayout.Offset(v, "printk_ringbuffer.desc_ring");
            int textRing = StructLayout.Offset(v, "printk_ringbuffer.text_data_ring");

            CountBits = RingBuffer.Fits("desc_ring.count_bits", descRing + StructLayout.Offset(v, "prb_desc_ring.count_bits"), sizeof(uint));
            Descs = RingBuffer.Fits("desc_ring.descs", descRing + StructLayout.Offset(v, "prb_desc_ring.descs"), sizeof(ulong));
            Infos = RingBuffer.Fits("desc_ring.infos", descRing + StructLayout.Offset(v, "prb_desc_ring.infos"), sizeof(ulong));
            HeadId = RingBuffer.Fits("desc_ring.head_id", descRing + StructLayout.Offset(v, "prb_desc_ring.head_id") + counter, sizeof(ulong));
            TailId = RingBuffer.Fits("desc_ring.tail_id", descRing + StructLayout.Offset(v, "prb_desc_ring.tail_id") + counter, sizeof(ulong));
            SizeBits = RingBuffer.Fits("text_data_ring.size_bits", textRing + StructLayout.Offset(v, "prb_data_ring.size_bits"), sizeof(uint));
            Data = RingBuffer.Fits("text_data_ring.data", textRing + StructLayout.Offset(v, "prb_data_ring.data"), sizeof(ulong));

            StateVar = Desc.Field("state_var", sizeof(ulong), counter);
            int lpos = StructLayout.Offset(v, "prb_desc.text_blk_lpos");
            LposBegin = Desc.Fits("text_blk_lpos.begin", lpos + StructLayout.Offset(v, "prb_data_blk_lpos.begin"), sizeof(ulong));
            LposNext = Desc.Fits("text_blk_lpos.next", lpos + StructLayout.Offset(v, "prb_data_blk_lpos.next"), sizeof(ulong));

            Seq = Info.Field("seq", sizeof(ulong));
            TsNsec = Info.Field("ts_nsec", sizeof(ulong));
            TextLen = Info.Field("text_len", sizeof(ushort));
            CallerId = Info.Field("caller_id", sizeof(uint));
        }

        public StructLayout RingBuffer { get; }
        public StructLayout Desc { get; }
        public StructLayout Info { get; }
        public int CountBits { get; }
        public int Descs { get; }
        public int Infos { get; }
        public int HeadId { get; }
        public int TailId { get; }
        public int SizeBits { get; }
        public int Data { get; }
        public int StateVar { get; }
        public int LposBegin { get; }
        public int LposNext { get; }
        public int Seq { get; }
        public int TsNsec { get; }
        public int TextLen { get; }
        public int CallerId { get; }
    }
}
