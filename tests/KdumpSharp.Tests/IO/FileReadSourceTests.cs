using KdumpSharp.Dumps.Elf;
using KdumpSharp.IO;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.IO;

public class FileReadSourceTests
{
    [Test]
    public void Reads_an_elf_vmcore_like_the_mapped_source()
    {
        var machine = new KernelImageFixture(small: true);
        machine.Ram[0x123456] = 0x77;
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, machine.ToElfCore());
            using var reader = new ElfVmcoreReader(new FileReadSource(path));
            byte[] page = new byte[4096];
            Assert.That(reader.Memory.ReadPage(new PageFrameNumber(0x123), page), Is.EqualTo(PageState.Present));
            Assert.That(page[0x456], Is.EqualTo(0x77));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void An_io_error_makes_one_page_unreadable_and_the_rest_still_reads()
    {
        var machine = new KernelImageFixture(small: true);
        byte[] file = machine.ToElfCore();
        using var reader = new ElfVmcoreReader(new PoisonedSource(file, poisonedFrom: file.Length - 0x10000, poisonedTo: file.Length - 0xf000));
        ulong last = reader.Memory.EndFrame.Value - 1;
        byte[] page = new byte[4096];

        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(last - 0xf), page), Is.EqualTo(PageState.Unreadable));
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(last - 0xe), page), Is.EqualTo(PageState.Present));
        Assert.That(reader.Memory.ReadPage(new PageFrameNumber(last - 0x10), page), Is.EqualTo(PageState.Present));
    }

    /// <summary>kds-capture maps /proc/vmcore by default and reads files: it tells them apart by file system, not by name.</summary>
    [Test]
    public void A_file_on_procfs_is_told_from_a_file_on_disk()
    {
        using (var proc = new FileReadSource("/proc/self/stat"))
            Assert.That(proc.IsOnProcFs, Is.True);
        string path = Path.GetTempFileName();
        try
        {
            using var file = new FileReadSource(path);
            Assert.That(file.IsOnProcFs, Is.False);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Throws EIO for reads touching [from, to), as /proc/vmcore does over poisoned memory.</summary>
    private sealed class PoisonedSource(byte[] bytes, long poisonedFrom, long poisonedTo) : DumpSource
    {
        private readonly MemorySource _inner = new("poisoned", bytes);
        public override string Name => "poisoned";
        public override long Length => bytes.Length;

        public override int ReadAt(long offset, Span<byte> destination)
        {
            if (offset < poisonedTo && offset + destination.Length > poisonedFrom)
                throw new IOException("Input/output error");
            return _inner.ReadAt(offset, destination);
        }

        public override void Dispose() { }
    }
}
