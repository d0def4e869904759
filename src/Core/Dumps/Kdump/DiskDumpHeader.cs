using KdumpSharp.Kernel;
using System.Buffers.Binary;
using System.Text;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// makedumpfile diskdump_mod.h <c>struct disk_dump_header</c> with its embedded
/// <c>struct new_utsname</c>, x86_64 layout (464 bytes), at offset 0 of a kdump-compressed or
/// diskdump file. Fields in file order; offsets derived from the field sizes and C alignment.
/// </summary>
internal readonly struct DiskDumpHeader
{
    public const string KdumpSignature = "KDUMP   ";
    public const string DiskdumpSignature = "DISKDUMP";

    public const int SignatureLength = 8;                                     // char signature[SIG_LEN]
    public const int UtsNameLength = UtsName.Size;                            // struct new_utsname, 6 x char[65]

    public const int SignatureOffset = 0;
    public const int HeaderVersionOffset = SignatureOffset + SignatureLength;             // int header_version
    public const int UtsNameOffset = HeaderVersionOffset + sizeof(int);                   // struct new_utsname utsname
    public const int TimestampOffset = (UtsNameOffset + UtsNameLength + 7) & ~7;         // struct timeval, 8-aligned after 6 pad bytes
    public const int TimestampMicrosecondsOffset = TimestampOffset + sizeof(long);        //   tv_usec
    public const int StatusOffset = TimestampMicrosecondsOffset + sizeof(long);           // unsigned int status
    public const int BlockSizeOffset = StatusOffset + sizeof(uint);                       // int block_size
    public const int SubHeaderSizeOffset = BlockSizeOffset + sizeof(int);                 // int sub_hdr_size
    public const int BitmapBlocksOffset = SubHeaderSizeOffset + sizeof(int);              // unsigned int bitmap_blocks
    public const int MaxMapnrOffset = BitmapBlocksOffset + sizeof(uint);                  // unsigned int max_mapnr
    public const int TotalRamBlocksOffset = MaxMapnrOffset + sizeof(uint);                // unsigned int total_ram_blocks
    public const int DeviceBlocksOffset = TotalRamBlocksOffset + sizeof(uint);            // unsigned int device_blocks
    public const int WrittenBlocksOffset = DeviceBlocksOffset + sizeof(uint);             // unsigned int written_blocks
    public const int CurrentCpuOffset = WrittenBlocksOffset + sizeof(uint);               // unsigned int current_cpu
    public const int NrCpusOffset = CurrentCpuOffset + sizeof(uint);                      // int nr_cpus
    public const int Size = NrCpusOffset + sizeof(int);                                   // struct task_struct *tasks[0] adds nothing

    public DiskDumpHeader(ReadOnlySpan<byte> b)
    {
        Signature = Encoding.Latin1.GetString(b.Slice(SignatureOffset, SignatureLength));
        HeaderVersion = BinaryPrimitives.ReadInt32LittleEndian(b[HeaderVersionOffset..]);
        UtsName = UtsName.Parse(b.Slice(UtsNameOffset, UtsNameLength));
        TimestampSeconds = BinaryPrimitives.ReadInt64LittleEndian(b[TimestampOffset..]);
        TimestampMicroseconds = BinaryPrimitives.ReadInt64LittleEndian(b[TimestampMicrosecondsOffset..]);
        Status = (DumpHeaderFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[StatusOffset..]);
        BlockSize = BinaryPrimitives.ReadInt32LittleEndian(b[BlockSizeOffset..]);
        SubHeaderSize = BinaryPrimitives.ReadInt32LittleEndian(b[SubHeaderSizeOffset..]);
        BitmapBlocks = BinaryPrimitives.ReadUInt32LittleEndian(b[BitmapBlocksOffset..]);
        MaxMapnr = BinaryPrimitives.ReadUInt32LittleEndian(b[MaxMapnrOffset..]);
        NrCpus = BinaryPrimitives.ReadInt32LittleEndian(b[NrCpusOffset..]);
    }

    /// <summary>"KDUMP   " (makedumpfile) or "DISKDUMP" (the old diskdump facility).</summary>
    public string Signature { get; init; }

    public int HeaderVersion { get; init; }
    public UtsName UtsName { get; init; }

    /// <summary>tv_sec; makedumpfile takes it from VMCOREINFO CRASHTIME.</summary>
    public long TimestampSeconds { get; init; }

    public long TimestampMicroseconds { get; init; }
    public DumpHeaderFlags Status { get; init; }
    public int BlockSize { get; init; }

    /// <summary>Blocks after the header holding the sub header and the ELF notes.</summary>
    public int SubHeaderSize { get; init; }

    /// <summary>Blocks of both bitmaps together.</summary>
    public uint BitmapBlocks { get; init; }

    /// <summary>Truncated to 32 bits; header_version 6 has the full value in the sub header.</summary>
    public uint MaxMapnr { get; init; }

    public int NrCpus { get; init; }

    public bool IsKdump => Signature == KdumpSignature;
    public bool IsDiskdump => Signature == DiskdumpSignature;

    /// <summary>Writes the header; total_ram_blocks, device_blocks, written_blocks and current_cpu stay 0, as makedumpfile leaves them.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Encoding.Latin1.GetBytes(Signature, b.Slice(SignatureOffset, SignatureLength));
        BinaryPrimitives.WriteInt32LittleEndian(b[HeaderVersionOffset..], HeaderVersion);
        UtsName.Write(b.Slice(UtsNameOffset, UtsNameLength));
        BinaryPrimitives.WriteInt64LittleEndian(b[TimestampOffset..], TimestampSeconds);
        BinaryPrimitives.WriteInt64LittleEndian(b[TimestampMicrosecondsOffset..], TimestampMicroseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[StatusOffset..], (uint)Status);
        BinaryPrimitives.WriteInt32LittleEndian(b[BlockSizeOffset..], BlockSize);
        BinaryPrimitives.WriteInt32LittleEndian(b[SubHeaderSizeOffset..], SubHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[BitmapBlocksOffset..], BitmapBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(b[MaxMapnrOffset..], MaxMapnr);
        BinaryPrimitives.WriteInt32LittleEndian(b[NrCpusOffset..], NrCpus);
    }
}
