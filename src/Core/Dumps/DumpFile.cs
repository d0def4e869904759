using KdumpSharp.Dumps.Elf;
using KdumpSharp.Dumps.Flattened;
using KdumpSharp.Dumps.Kdump;
using KdumpSharp.Dumps.Native;
using KdumpSharp.IO;

namespace KdumpSharp.Dumps;

/// <summary>
/// Opens a dump by its content, never its name: one look at the first bytes picks the reader.
/// Files people mistake for dumps (a compressed copy, a kernel image, an initramfs) get their own
/// message saying what they are.
/// </summary>
public static class DumpFile
{
    /// <summary>Opens the file memory-mapped; the returned reader owns it.</summary>
    public static IDumpReader Open(string path, DumpLimits? limits = null)
    {
        var source = new MappedFileSource(path);
        try
        {
            return Open(source, limits, leaveOpen: false);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public static IDumpReader Open(DumpSource source, DumpLimits? limits = null, bool leaveOpen = false)
    {
        limits ??= DumpLimits.Default;
        Span<byte> magic = stackalloc byte[16];
        int n = source.ReadAt(0, magic);
        magic = magic[..n];
        if (n == 0)
            throw new UnrecognizedDumpException(source.Name, "is empty");
        if (magic.StartsWith("\u007fELF"u8))
            return new ElfVmcoreReader(source, limits, leaveOpen);
        if (NativeDumpReader.HasSignature(magic))
            return NativeDumpReader.Open(source, limits, leaveOpen);
        if (KdumpCompressedReader.HasSignature(source))
            return KdumpCompressedReader.Open(source, limits, leaveOpen);
        if (FlattenedSource.HasSignature(source))
        {
            // The flattened stream is rebuilt in place; what it carries is sniffed like any file.
            FlattenedSource flat = FlattenedSource.Open(source, limits, leaveOpen);
            try
            {
                return Open(flat, limits, leaveOpen: false);
            }
            catch
            {
                flat.Dispose();
                throw;
            }
        }
        throw new UnrecognizedDumpException(source.Name, Describe(source, magic));
    }

    private static string Describe(DumpSource source, ReadOnlySpan<byte> magic)
    {
        if (magic.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]))
            return "is gzip-compressed; decompress it first (gunzip)";
        if (magic.StartsWith((ReadOnlySpan<byte>)[0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0]))
            return "is xz-compressed; decompress it first (unxz)";
        if (magic.StartsWith((ReadOnlySpan<byte>)[0x28, 0xb5, 0x2f, 0xfd]))
            return "is zstd-compressed; decompress it first (unzstd)";
        if (magic.StartsWith("BZh"u8))
            return "is bzip2-compressed; decompress it first (bunzip2)";
        if (magic.StartsWith("070701"u8) || magic.StartsWith("070702"u8))
            return "is a cpio archive (an initramfs?), not a dump";
        Span<byte> setupMagic = stackalloc byte[4];
        if (source.ReadAt(0x202, setupMagic) == 4 && setupMagic.SequenceEqual("HdrS"u8))
            return "is a Linux kernel image (bzImage), not a dump";
        return "is not a crash dump: no ELF, kdump-compressed, flattened or KdumpSharp signature";
    }
}
