using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Tests.Builders;

/// <summary>Sizes and offsets of the lockless ring's structures, as VMCOREINFO exports them.</summary>
internal sealed record PrintkLayout
{
    /// <summary>x86_64 Linux 6.1 (kernel/printk/printk_ringbuffer.h; prb_desc_ring with last_finalized_id):
    /// the values in the VMCOREINFO of Debian's 6.1.0-56 and 6.12.117 kernels, which agree.</summary>
    public static PrintkLayout Linux61 { get; } = new();

    /// <summary>A layout no kernel has: every member moved, every structure grown. A reader that
    /// hard-codes an offset reads garbage here.</summary>
    public static PrintkLayout Shuffled { get; } = new()
    {
        RingBufferSize = 160, DescRing = 72, TextDataRing = 8, Fail = 0,
        CountBits = 36, Descs = 8, Infos = 24, HeadId = 0, TailId = 16,
        SizeBits = 56, Data = 40, HeadLpos = 16, TailLpos = 0,
        DescSize = 40, StateVar = 24, TextBlkLpos = 0, LposBegin = 8, LposNext = 0,
        InfoSize = 120, Seq = 40, TsNsec = 8, TextLen = 2, CallerId = 20, DevInfo = 48, Subsystem = 0, Device = 16,
        AtomicCounter = 0,
    };

    public int RingBufferSize { get; init; } = 88;
    public int DescRing { get; init; }
    public int TextDataRing { get; init; } = 48;
    public int Fail { get; init; } = 80;
    public int CountBits { get; init; }
    public int Descs { get; init; } = 8;
    public int Infos { get; init; } = 16;
    public int HeadId { get; init; } = 24;
    public int TailId { get; init; } = 32;
    public int SizeBits { get; init; }
    public int Data { get; init; } = 8;
    public int HeadLpos { get; init; } = 16;
    public int TailLpos { get; init; } = 24;
    public int DescSize { get; init; } = 24;
    public int StateVar { get; init; }
    public int TextBlkLpos { get; init; } = 8;
    public int LposBegin { get; init; }
    public int LposNext { get; init; } = 8;
    public int InfoSize { get; init; } = 88;
    public int Seq { get; init; }
    public int TsNsec { get; init; } = 8;
    public int TextLen { get; init; } = 16;
    public int CallerId { get; init; } = 20;
    public int DevInfo { get; init; } = 24;
    public int Subsystem { get; init; }
    public int Device { get; init; } = 16;
    public int AtomicCounter { get; init; }
}

internal enum DescState : ulong
{
    Reserved = 0,
    Committed = 1,
    Finalized = 2,
    Reusable = 3,
}

/// <summary>
/// Builds a 5.10+ lockless printk ring the way the kernel fills it (kernel/printk/printk_ringbuffer.c):
/// IDs start at DESC0_ID and overflow early, lpos starts at −size, a block that would cross the end
/// of the text ring is stored whole at offset 0 (its ID copied there too), pushing the descriptor tail
/// makes the oldest record reusable, and pushing the data tail makes every record whose block is
/// overwritten reusable while tail_id stays put. Records are laid out independently of the reader.
/// </summary>
internal sealed class PrintkRingBuilder
{
    private const int StateShift = 62;
    private const ulong IdMask = (1UL << StateShift) - 1;
    private const ulong FailedLpos = 1;
    private const ulong NoLpos = 3;

    private readonly bool _exactFitAtEnd;
    private readonly Slot[] _slots;
    private readonly byte[] _data;
    private ulong _nextSeq;
    private ulong _headLpos;
    private ulong _tailLpos;

    /// <param name="exactFitAtEnd">6.19+ placement (commit 67e1b0052f6b): a block that ends exactly at
    /// the end of the text ring stays there instead of moving to offset 0.</param>
    public PrintkRingBuilder(int countBits, int sizeBits, PrintkLayout? layout = null, bool exactFitAtEnd = false)
    {
        Layout = layout ?? PrintkLayout.Linux61;
        _exactFitAtEnd = exactFitAtEnd;
        CountBits = countBits;
        SizeBits = sizeBits;
        _slots = new Slot[1 << countBits];
        _data = new byte[1 << sizeBits];
        // DESC0_ID(ct_bits) = DESC_ID(-(count + 1)): the last slot, reusable and data-less, is the
        // initial head and tail; slot 0's seq is -count so its first use gets seq 0 (bootstrap, ringbuffer.h).
        HeadId = TailId = unchecked((ulong)-(_slots.Length + 1)) & IdMask;
        _slots[^1] = new Slot { StateVar = ((ulong)DescState.Reusable << StateShift) | HeadId, Begin = FailedLpos, Next = FailedLpos };
        _slots[0].Seq = unchecked((ulong)-_slots.Length);
        _headLpos = _tailLpos = unchecked((ulong)-_data.Length);
    }

    public PrintkLayout Layout { get; }
    public int CountBits { get; }
    public int SizeBits { get; }
    public ulong HeadId { get; private set; }
    public ulong TailId { get; private set; }

    // Where WriteTo placed things, for tests that corrupt or drop them.
    public ulong PrbPointerAddress { get; private set; }
    public ulong RingBufferAddress { get; private set; }
    public ulong DescsAddress { get; private set; }
    public ulong InfosAddress { get; private set; }
    public ulong DataAddress { get; private set; }

    public ulong Add(string text, ulong timestampNs, uint callerId, DescState state = DescState.Finalized) =>
        Add(Encoding.UTF8.GetBytes(text), timestampNs, callerId, state);

    /// <summary>
    /// Adds a record. <paramref name="reserved"/> is the text space reserved (the kernel reserves
    /// before it knows the final length, so it can exceed the text); <paramref name="textLength"/>
    /// overrides info.text_len (a value above the block models a truncated message).
    /// </summary>
    public ulong Add(byte[] text, ulong timestampNs, uint callerId, DescState state = DescState.Finalized, int? reserved = null, ushort? textLength = null)
    {
        ulong id = ReserveDescriptor();
        int space = reserved ?? text.Length;
        ref Slot slot = ref _slots[id & (ulong)(_slots.Length - 1)];
        if (space == 0)
        {
            slot.Begin = slot.Next = NoLpos;
        }
        else
        {
            (slot.Begin, slot.Next) = AllocateBlock(id, space);
            text.CopyTo(_data.AsSpan((int)BlockTextOffset(slot.Begin, slot.Next)));
        }
        Finish(ref slot, id, state, timestampNs, callerId, textLength ?? (ushort)text.Length);
        return id;
    }

    /// <summary>A record whose data block could not be allocated (FAILED_LPOS), as when the text ring is full of reserved blocks.</summary>
    public ulong AddDataLess(ulong timestampNs, uint callerId, DescState state = DescState.Finalized)
    {
        ulong id = ReserveDescriptor();
        ref Slot slot = ref _slots[id & (ulong)(_slots.Length - 1)];
        slot.Begin = slot.Next = FailedLpos;
        Finish(ref slot, id, state, timestampNs, callerId, 0);
        return id;
    }

    /// <summary>Lays the ring out in <paramref name="memory"/> and adds its VMCOREINFO keys (printk.c log_buf_vmcoreinfo_setup).</summary>
    public void WriteTo(KernelMemoryBuilder memory)
    {
        PrintkLayout l = Layout;
        int count = _slots.Length;
        byte[] descs = new byte[count * l.DescSize];
        byte[] infos = new byte[count * l.InfoSize];
        for (int i = 0; i < count; i++)
        {
            Span<byte> d = descs.AsSpan(i * l.DescSize, l.DescSize);
            BinaryPrimitives.WriteUInt64LittleEndian(d[(l.StateVar + l.AtomicCounter)..], _slots[i].StateVar);
            BinaryPrimitives.WriteUInt64LittleEndian(d[(l.TextBlkLpos + l.LposBegin)..], _slots[i].Begin);
            BinaryPrimitives.WriteUInt64LittleEndian(d[(l.TextBlkLpos + l.LposNext)..], _slots[i].Next);
            Span<byte> f = infos.AsSpan(i * l.InfoSize, l.InfoSize);
            BinaryPrimitives.WriteUInt64LittleEndian(f[l.Seq..], _slots[i].Seq);
            BinaryPrimitives.WriteUInt64LittleEndian(f[l.TsNsec..], _slots[i].Timestamp);
            BinaryPrimitives.WriteUInt16LittleEndian(f[l.TextLen..], _slots[i].TextLength);
            BinaryPrimitives.WriteUInt32LittleEndian(f[l.CallerId..], _slots[i].CallerId);
        }
        DescsAddress = memory.Place(descs);
        InfosAddress = memory.Place(infos);
        DataAddress = memory.Place(_data, align: 4096);

        byte[] rb = new byte[l.RingBufferSize];
        Span<byte> dr = rb.AsSpan(l.DescRing);
        BinaryPrimitives.WriteUInt32LittleEndian(dr[l.CountBits..], (uint)CountBits);
        BinaryPrimitives.WriteUInt64LittleEndian(dr[l.Descs..], DescsAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(dr[l.Infos..], InfosAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(dr[(l.HeadId + l.AtomicCounter)..], HeadId);
        BinaryPrimitives.WriteUInt64LittleEndian(dr[(l.TailId + l.AtomicCounter)..], TailId);
        Span<byte> tr = rb.AsSpan(l.TextDataRing);
        BinaryPrimitives.WriteUInt32LittleEndian(tr[l.SizeBits..], (uint)SizeBits);
        BinaryPrimitives.WriteUInt64LittleEndian(tr[l.Data..], DataAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(tr[(l.HeadLpos + l.AtomicCounter)..], _headLpos);
        BinaryPrimitives.WriteUInt64LittleEndian(tr[(l.TailLpos + l.AtomicCounter)..], _tailLpos);
        RingBufferAddress = memory.Place(rb);
        PrbPointerAddress = memory.Allocate(8);
        memory.WriteUInt64(PrbPointerAddress, RingBufferAddress);

        memory.Vmcoreinfo
            .Symbol("prb", PrbPointerAddress)
            .Symbol("printk_rb_static", RingBufferAddress)
            .Size("printk_ringbuffer", l.RingBufferSize)
            .Offset("printk_ringbuffer.desc_ring", l.DescRing)
            .Offset("printk_ringbuffer.text_data_ring", l.TextDataRing)
            .Offset("printk_ringbuffer.fail", l.Fail)
            .Size("prb_desc_ring", 48)
            .Offset("prb_desc_ring.count_bits", l.CountBits)
            .Offset("prb_desc_ring.descs", l.Descs)
            .Offset("prb_desc_ring.infos", l.Infos)
            .Offset("prb_desc_ring.head_id", l.HeadId)
            .Offset("prb_desc_ring.tail_id", l.TailId)
            .Size("prb_desc", l.DescSize)
            .Offset("prb_desc.state_var", l.StateVar)
            .Offset("prb_desc.text_blk_lpos", l.TextBlkLpos)
            .Size("prb_data_blk_lpos", 16)
            .Offset("prb_data_blk_lpos.begin", l.LposBegin)
            .Offset("prb_data_blk_lpos.next", l.LposNext)
            .Size("printk_info", l.InfoSize)
            .Offset("printk_info.seq", l.Seq)
            .Offset("printk_info.ts_nsec", l.TsNsec)
            .Offset("printk_info.text_len", l.TextLen)
            .Offset("printk_info.caller_id", l.CallerId)
            .Offset("printk_info.dev_info", l.DevInfo)
            .Size("dev_printk_info", 64)
            .Offset("dev_printk_info.subsystem", l.Subsystem)
            .Offset("dev_printk_info.device", l.Device)
            .Length("printk_info_subsystem", 16)
            .Length("printk_info_device", 48)
            .Size("prb_data_ring", 32)
            .Offset("prb_data_ring.size_bits", l.SizeBits)
            .Offset("prb_data_ring.data", l.Data)
            .Offset("prb_data_ring.head_lpos", l.HeadLpos)
            .Offset("prb_data_ring.tail_lpos", l.TailLpos)
            .Size("atomic_long_t", 8)
            .Offset("atomic_long_t.counter", l.AtomicCounter);
    }

    private ulong ReserveDescriptor()
    {
        ulong id = (HeadId + 1) & IdMask;
        // desc_reserve(): the slot's previous user is the tail → desc_push_tail() makes it reusable,
        // moves the data tail past its block and advances tail_id.
        if (((id - (ulong)_slots.Length) & IdMask) == TailId)
        {
            ref Slot tail = ref _slots[TailId & (ulong)(_slots.Length - 1)];
            if (State(tail) == DescState.Reserved)
                throw new InvalidOperationException("the kernel cannot push the tail past a reserved record");
            if (State(tail) is DescState.Committed or DescState.Finalized)
                tail.StateVar = ((ulong)DescState.Reusable << StateShift) | TailId;
            if ((tail.Begin & 1) == 0 && tail.Begin != tail.Next)
                PushDataTail(tail.Next);
            TailId = (TailId + 1) & IdMask;
        }
        HeadId = id;
        return id;
    }

    private (ulong Begin, ulong Next) AllocateBlock(ulong id, int space)
    {
        ulong size = (ulong)((space + 8 + 7) & ~7);
        if (size > (ulong)_data.Length / 2)
            throw new ArgumentException("block too large for this test ring");
        ulong begin = _headLpos;
        ulong next = begin + size;
        ulong mask = (ulong)_data.Length - 1;
        bool wraps = Wraps(begin, next);
        if (wraps)
            next = (next & ~mask) + size;
        // data_alloc() → data_push_tail(next − size_of_ring): blocks being overwritten are dropped.
        PushDataTail(next - (ulong)_data.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(_data.AsSpan((int)(begin & mask)), id);
        if (wraps)
            BinaryPrimitives.WriteUInt64LittleEndian(_data.AsSpan(0), id);
        _headLpos = next;
        return (begin, next);
    }

    private void PushDataTail(ulong lpos)
    {
        ulong mask = (ulong)_data.Length - 1;
        while ((long)(lpos - _tailLpos) > 0)
        {
            ulong blockId = BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan((int)(_tailLpos & mask)));
            ref Slot owner = ref _slots[blockId & (ulong)(_slots.Length - 1)];
            if ((owner.StateVar & IdMask) != blockId || owner.Begin != _tailLpos)
                throw new InvalidOperationException("test ring bookkeeping lost a block");
            if (State(owner) is DescState.Committed or DescState.Finalized)
                owner.StateVar = ((ulong)DescState.Reusable << StateShift) | blockId;
            _tailLpos = owner.Next;
        }
    }

    /// <summary>Ring offset of a block's text (after the 8-byte ID; at 8 for a block stored wrapped).</summary>
    private ulong BlockTextOffset(ulong begin, ulong next) =>
        (Wraps(begin, next) ? 0 : begin & ((ulong)_data.Length - 1)) + 8;

    // get_next_lpos(): before 6.19 a block whose next lpos is in the following wrap moves to offset 0,
    // even when it would end exactly at the ring's end; since then only blocks whose last byte is there do.
    private bool Wraps(ulong begin, ulong next) =>
        (begin >> SizeBits) != ((_exactFitAtEnd ? next - 1 : next) >> SizeBits);

    private void Finish(ref Slot slot, ulong id, DescState state, ulong timestampNs, uint callerId, ushort textLength)
    {
        // The first use of a slot takes its index as seq; later uses add the slot count (ringbuffer.h
        // bootstrap); here that is simply the running record number.
        slot.Seq = _nextSeq++;
        slot.Timestamp = timestampNs;
        slot.CallerId = callerId;
        slot.TextLength = textLength;
        slot.StateVar = ((ulong)state << StateShift) | id;
    }

    private static DescState State(in Slot slot) => (DescState)(slot.StateVar >> StateShift);

    private struct Slot
    {
        public ulong StateVar;
        public ulong Begin;
        public ulong Next;
        public ulong Seq;
        public ulong Timestamp;
        public uint CallerId;
        public ushort TextLength;
    }
}
