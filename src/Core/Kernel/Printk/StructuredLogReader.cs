using System.Buffers.Binary;
using KdumpSharp.Dumps;
using KdumpSharp.Memory;

namespace KdumpSharp.Kernel.Printk;

/// <summary>
/// Reads the variable-length records of 3.5–5.9 kernels: log_buf holds back-to-back
/// <c>struct printk_log {u64 ts_nsec; u16 len, text_len, dict_len; u8 facility; u8 flags:5, level:3;
/// [u32 caller_id]}</c> headers, each followed by text, dict and padding to <c>len</c>; a header with
/// len == 0 means "continue at offset 0" (kernel/printk/printk.c log_store, log_next). The walk is
/// kexec-tools util_lib/elf_info.c dump_dmesg_structured(): from log_first_idx to log_next_idx,
/// wrapping once; a second wrap or an index past the last header position ends it.
/// </summary>
internal static class StructuredLogReader
{
    public static KernelLog Read(VirtualMemory memory, Vmcoreinfo vmcoreinfo, DumpLimits limits)
    {
        // The structure was "struct log" until 3.11 renamed it (VMCOREINFO follows the name).
        string name = vmcoreinfo.Size("printk_log") is not null ? "printk_log" : "log";
        var header = StructLayout.Of(vmcoreinfo, name);
        int tsOffset = header.Field("ts_nsec", sizeof(ulong));
        int lenOffset = header.Field("len", sizeof(ushort));
        int textLenOffset = header.Field("text_len", sizeof(ushort));
        // Exported only with CONFIG_PRINTK_CALLER (5.1–5.9).
        int? callerOffset = vmcoreinfo.Offset($"{name}.caller_id") is not null ? header.Field("caller_id", sizeof(uint)) : null;

        // SYMBOL(log_buf) is the address of "char *log_buf"; the others are u32 variables.
        ulong logBuf = memory.ReadUInt64(vmcoreinfo.RequireSymbol("log_buf"));
        uint bufferLength = memory.ReadUInt32(vmcoreinfo.RequireSymbol("log_buf_len"));
        uint firstIndex = memory.ReadUInt32(vmcoreinfo.RequireSymbol("log_first_idx"));
        uint nextIndex = memory.ReadUInt32(vmcoreinfo.RequireSymbol("log_next_idx"));
        if (bufferLength > limits.MaxLogBufferBytes)
            throw new KernelDataException($"log_buf_len = {bufferLength} bytes is more than the limit of {limits.MaxLogBufferBytes}");
        if (bufferLength < header.Size)
            throw new KernelDataException($"log_buf_len = {bufferLength} bytes cannot hold one {name} header of {header.Size} bytes");
        // The last offset a header can start at; vmcore-dmesg stops with "Index outside log_buf" past it.
        uint lastHeader = bufferLength - (uint)header.Size;
        if (firstIndex > lastHeader || nextIndex > lastHeader)
            throw new KernelDataException($"log_first_idx = {firstIndex} or log_next_idx = {nextIndex} lies outside log_buf ({bufferLength} bytes)");

        var buffer = MemorySnapshot.Read(memory, "log_buf", logBuf, bufferLength);
        var problems = new List<string>(buffer.Gaps);
        var records = new List<LogRecord>();
        long unreadableText = 0;
        long truncated = 0;
        string? firstTruncated = null;
        bool wrapped = false;
        uint index = firstIndex;
        while (index != nextIndex)
        {
            if (records.Count + unreadableText >= limits.MaxLogRecords)
            {
                problems.Add($"log_buf walk stopped after {limits.MaxLogRecords} records (the limit) at offset {index}");
                break;
            }
            if (!buffer.TryGet(index, header.Size, out ReadOnlyMemory<byte> headerMemory))
            {
                problems.Add($"log_buf walk stopped at offset {index}: the record header is unreadable, so the next record cannot be found");
                break;
            }
            ReadOnlySpan<byte> h = headerMemory.Span;
            ulong timestamp = BinaryPrimitives.ReadUInt64LittleEndian(h[tsOffset..]);
            ushort recordLength = BinaryPrimitives.ReadUInt16LittleEndian(h[lenOffset..]);
            ushort textLength = BinaryPrimitives.ReadUInt16LittleEndian(h[textLenOffset..]);
            PrintkCaller? caller = callerOffset is int c ? new PrintkCaller(BinaryPrimitives.ReadUInt32LittleEndian(h[c..])) : null;

            // vmcore-dmesg reads text_len bytes after the header without checking them against len;
            // the kernel keeps text_len + dict_len + header <= len. Only the buffer's end is enforced here.
            long textStart = (long)index + header.Size;
            int length = (int)Math.Min(textLength, bufferLength - textStart);
            if (length < textLength)
            {
                truncated++;
                firstTruncated ??= $"the record at offset {index} claims {textLength} bytes of text but log_buf ends after {length}";
            }
            if (buffer.TryGet(textStart, length, out ReadOnlyMemory<byte> text))
                records.Add(new LogRecord(recordLength == 0 ? LogRecordKind.WrapMarker : LogRecordKind.Text, null, timestamp, caller, text));
            else
                unreadableText++;

            if (recordLength == 0)
            {
                if (wrapped)
                {
                    problems.Add($"log_buf walk stopped at offset {index}: a second wrap marker (the buffer is corrupt)");
                    break;
                }
                wrapped = true;
                index = 0;
            }
            else
            {
                long following = (long)index + recordLength;
                if (following > lastHeader)
                {
                    problems.Add($"log_buf walk stopped: the record at offset {index} is {recordLength} bytes long, which leads outside log_buf ({bufferLength} bytes)");
                    break;
                }
                index = (uint)following;
            }
        }
        if (truncated > 0)
            problems.Add($"{truncated} log_buf records had their text cut at the end of the buffer; the first: {firstTruncated}");
        if (unreadableText > 0)
            problems.Add($"{unreadableText} log_buf records were skipped because their text lies in memory the dump does not hold");
        return new KernelLog(KernelLogFormat.Structured, records, problems);
    }
}
