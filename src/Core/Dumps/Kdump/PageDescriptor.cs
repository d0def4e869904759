using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Kdump;

/// <summary>
/// makedumpfile diskdump_mod.h <c>struct page_desc</c> (24 bytes): where one dumped page's data is
/// and how it is compressed. One per set bit of the 2nd bitmap, in pfn order.
/// </summary>
internal readonly record struct PageDescriptor(long Offset, uint Size, DumpHeaderFlags Flags, ulong PageFlags)
{
    public const int OffsetOffset = 0;                                  // off_t offset
    public const int SizeOffset = OffsetOffset + sizeof(long);          // unsigned int size
    public const int FlagsOffset = SizeOffset + sizeof(uint);           // unsigned int flags
    public const int PageFlagsOffset = FlagsOffset + sizeof(uint);      // unsigned long long page_flags (always 0)
    public const int Length = PageFlagsOffset + sizeof(ulong);

    public static PageDescriptor Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadInt64LittleEndian(b[OffsetOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[SizeOffset..]),
        (DumpHeaderFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[FlagsOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[PageFlagsOffset..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteInt64LittleEndian(b[OffsetOffset..], Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[SizeOffset..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[FlagsOffset..], (uint)Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b[PageFlagsOffset..], PageFlags);
    }
}
