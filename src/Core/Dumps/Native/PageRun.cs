using System.Buffers.Binary;

namespace KdumpSharp.Dumps.Native;

/// <summary>One run of a chunk: <see cref="Pages"/> consecutive pfns of one <see cref="PageKind"/>.</summary>
internal readonly record struct PageRun(uint Pages, PageKind Kind)
{
    public const int PagesOffset = 0;                                       // u32 pages
    public const int KindOffset = PagesOffset + sizeof(uint);               // u8 kind
    public const int ReservedOffset = KindOffset + sizeof(byte);            // u8 reserved[3]
    public const int Size = ReservedOffset + 3;

    public static PageRun Read(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(b[PagesOffset..]), (PageKind)b[KindOffset]);

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b[PagesOffset..], Pages);
        b[KindOffset] = (byte)Kind;
        b.Slice(ReservedOffset, 3).Clear();
    }
}
