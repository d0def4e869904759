using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Tests.Builders;

/// <summary>
/// Builds a 3.5–5.9 log_buf the way log_store() fills it (kernel/printk/printk.c, 4.x–5.9):
/// <c>struct printk_log {u64 ts_nsec; u16 len, text_len, dict_len; u8 facility; u8 flags:5, level:3;
/// [u32 caller_id]}</c>, packed and 4-aligned on x86_64 (LOG_ALIGN 4); each record is header + text +
/// dict padded to 4; old records are dropped from log_first_idx until the new one fits with room for
/// one more header (logbuf_has_space); a record that does not fit before the end leaves a zeroed
/// header (len 0) there and goes to offset 0.
/// </summary>
internal sealed class LegacyLogBuilder
{
    private const int LogAlign = 4;
    private readonly byte[] _buffer;
    private ulong _firstSeq;
    private ulong _nextSeq;

    public LegacyLogBuilder(int bufferLength, bool withCaller = false, string structName = "printk_log")
    {
        _buffer = new byte[bufferLength];
        WithCaller = withCaller;
        StructName = structName;
    }

    public bool WithCaller { get; }
    public string StructName { get; }
    public int HeaderSize => WithCaller ? 20 : 16;
    public uint FirstIndex { get; private set; }
    public uint NextIndex { get; private set; }

    public ulong LogBufAddress { get; private set; }
    public ulong BufferAddress { get; private set; }
    public ulong FirstIndexAddress { get; private set; }
    public ulong NextIndexAddress { get; private set; }
    public ulong LengthAddress { get; private set; }

    public LegacyLogBuilder Add(string text, ulong timestampNs, string dict = "", uint callerId = 0) =>
        Add(Encoding.UTF8.GetBytes(text), timestampNs, Encoding.UTF8.GetBytes(dict), callerId);

    public LegacyLogBuilder Add(byte[] text, ulong timestampNs, byte[] dict, uint callerId = 0)
    {
        int size = HeaderSize + text.Length + dict.Length;
        size += -size & (LogAlign - 1);
        // log_make_free_space(): drop the oldest records until the new one fits.
        while (_firstSeq < _nextSeq && !HasSpace(size))
        {
            FirstIndex = NextOf(FirstIndex);
            _firstSeq++;
        }
        if (_firstSeq == _nextSeq)
            FirstIndex = NextIndex;
        if (!HasSpace(size))
            throw new ArgumentException("record too large for this test buffer");
        if (NextIndex + size + HeaderSize > _buffer.Length)
        {
            _buffer.AsSpan((int)NextIndex, HeaderSize).Clear();
            NextIndex = 0;
        }
        Span<byte> h = _buffer.AsSpan((int)NextIndex, size);
        h.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(h, timestampNs);
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], (ushort)size);
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], (ushort)text.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], (ushort)dict.Length);
        h[14] = 0; // facility: kernel
        h[15] = 6 << 5; // level KERN_INFO in the top three bits
        if (WithCaller)
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], callerId);
        text.CopyTo(h[HeaderSize..]);
        dict.CopyTo(h[(HeaderSize + text.Length)..]);
        NextIndex += (uint)size;
        _nextSeq++;
        return this;
    }

    /// <summary>Lays log_buf and its index variables out and adds the 4.x–5.9 VMCOREINFO keys.</summary>
    public void WriteTo(KernelMemoryBuilder memory)
    {
        BufferAddress = memory.Place(_buffer, align: 4096);
        LogBufAddress = memory.Allocate(8);
        memory.WriteUInt64(LogBufAddress, BufferAddress);
        LengthAddress = memory.Allocate(4, 4);
        memory.WriteUInt32(LengthAddress, (uint)_buffer.Length);
        FirstIndexAddress = memory.Allocate(4, 4);
        memory.WriteUInt32(FirstIndexAddress, FirstIndex);
        NextIndexAddress = memory.Allocate(4, 4);
        memory.WriteUInt32(NextIndexAddress, NextIndex);
        ulong clear = memory.Allocate(4, 4);
        memory.WriteUInt32(clear, FirstIndex);
        string s = StructName;
        memory.Vmcoreinfo
            .Symbol("log_buf", LogBufAddress)
            .Symbol("log_buf_len", LengthAddress)
            .Symbol("log_first_idx", FirstIndexAddress)
            .Symbol("clear_idx", clear)
            .Symbol("log_next_idx", NextIndexAddress)
            .Size(s, HeaderSize)
            .Offset($"{s}.ts_nsec", 0)
            .Offset($"{s}.len", 8)
            .Offset($"{s}.text_len", 10)
            .Offset($"{s}.dict_len", 12);
        if (WithCaller)
            memory.Vmcoreinfo.Offset($"{s}.caller_id", 16);
    }

    private uint NextOf(uint index)
    {
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan((int)index + 8));
        return len == 0 ? BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(8)) : index + len;
    }

    // logbuf_has_space(): room for the record and one more header (the wrap marker).
    private bool HasSpace(int size)
    {
        long free = NextIndex > FirstIndex || _firstSeq == _nextSeq
            ? Math.Max(_buffer.Length - NextIndex, FirstIndex)
            : FirstIndex - NextIndex;
        return free >= size + HeaderSize;
    }
}
