using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Kexec;

public class BootParamsTests
{
    private const ulong SegmentAddress = 0x1_2345_6000;

    private static BzImage Kernel() => BzImage.Parse("vmlinuz", File.ReadAllBytes(KexecTestKernels.Path("linux-image-6.1.0-56-amd64")));

    private static E820Map Map(int entries) => E820Map.FromFirmware(Enumerable.Range(0, entries)
        .Select(i => new E820Entry(PhysicalRange.FromLength(0x100000UL * (ulong)(i + 1), 0x1000 * (ulong)(i + 1)), i % 2 == 0 ? E820Type.Ram : E820Type.Reserved)).ToList());

    /// <summary>A running zero page with recognisable screen_info, subarch, RSDP and EFI fields.</summary>
    private static byte[] Running()
    {
        byte[] p = new byte[4096];
        for (int i = 0; i < 0x40; i++)
            p[i] = (byte)(0x80 + i);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(0x70), 0x7ffe1234);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0x23C), 0); // PC subarch
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0x1C0), 0x34364c45); // "EL64"
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0x1D4), 0x3000);
        return p;
    }

    private static ulong U64(byte[] b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at));
    private static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));

    [Test]
    public void Fields_sit_at_their_bootparam_h_offsets()
    {
        BzImage kernel = Kernel();
        var initrd = PhysicalRange.FromLength(0x1_0000_0000 + 0x40_0000, 0x1234_5000);
        byte[] running = Running();
        byte[] s = BootParams.Build(kernel, SegmentAddress, "console=ttyS0 root=/dev/vda", initrd, Map(3), running);

        Assert.That(s.AsSpan(0x1F1, 0x26C - 0x1F1).SequenceEqual(Patched(kernel)), Is.True, "setup header copied, loader fields patched");
        Assert.That(s.AsSpan(0, 0x1F1).ToArray().Take(0x40), Is.EqualTo(running.Take(0x20).Concat(new byte[4]).Concat(running.Skip(0x24).Take(0x1C))), "screen_info copied, cl_magic/cl_offset cleared");
        Assert.That(s[0x210], Is.EqualTo(0xD0), "type_of_loader");
        Assert.That(s[0x211], Is.EqualTo(0), "loadflags");
        Assert.That(s[0x1EF], Is.EqualTo(0), "sentinel");
        Assert.That(U64(s, 0x70), Is.EqualTo(0x7ffe1234), "acpi_rsdp_addr");
        Assert.That(s.AsSpan(0x1C0, 0x20).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "efi_info zero");
        Assert.That(U32(s, 0x228) | ((ulong)U32(s, 0xC8) << 32), Is.EqualTo(SegmentAddress + 0x1000), "cmd_line_ptr + ext_cmd_line_ptr");
        Assert.That(U32(s, 0xC8), Is.EqualTo(1));
        Assert.That(Encoding.ASCII.GetString(s, 0x1000, s.Length - 0x1000), Is.EqualTo("console=ttyS0 root=/dev/vda\0"));
        Assert.That(U32(s, 0x218) | ((ulong)U32(s, 0xC0) << 32), Is.EqualTo(initrd.Start.Value), "ramdisk_image + ext");
        Assert.That(U32(s, 0x21C) | ((ulong)U32(s, 0xC4) << 32), Is.EqualTo(initrd.Length), "ramdisk_size + ext");
        Assert.That(s[0x1E8], Is.EqualTo(3), "e820_entries");
        Assert.That(U64(s, 0x2D0), Is.EqualTo(0x100000), "e820_table[0].addr");
        Assert.That(U64(s, 0x2D8), Is.EqualTo(0x1000), "e820_table[0].size");
        Assert.That(U32(s, 0x2E0), Is.EqualTo(1), "e820_table[0].type");
        Assert.That(U64(s, 0x2D0 + 2 * 20), Is.EqualTo(0x300000), "e820_table[2].addr (entries are packed, 20 bytes)");
        Assert.That(U32(s, 0x2D0 + 20 + 16), Is.EqualTo(2), "e820_table[1].type");
        Assert.That(U64(s, 0x250), Is.Zero, "no setup_data");
    }

    private static byte[] Patched(BzImage kernel)
    {
        byte[] h = kernel.SetupHeaderBytes.ToArray();
        h[0x210 - 0x1F1] = 0xD0;
        h[0x211 - 0x1F1] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0x218 - 0x1F1), 0x40_0000);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0x21C - 0x1F1), 0x1234_5000);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0x228 - 0x1F1), 0x2345_7000);
        return h;
    }

    [Test]
    public void Without_running_params_screen_info_and_rsdp_stay_zero()
    {
        byte[] s = BootParams.Build(Kernel(), 0x9000, "", null, Map(1), []);
        Assert.That(s.AsSpan(0, 0x1E8).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Assert.That(U32(s, 0x218) + U32(s, 0x21C), Is.Zero, "no initrd");
        Assert.That(s, Has.Length.EqualTo(0x1001), "the empty command line is one NUL");
    }

    [Test]
    public void More_than_128_entries_continue_in_a_setup_data_e820_ext_node()
    {
        byte[] s = BootParams.Build(Kernel(), SegmentAddress, "quiet", null, Map(131), Running());
        Assert.That(s[0x1E8], Is.EqualTo(128));
        ulong node = U64(s, 0x250);
        Assert.That(node, Is.EqualTo(SegmentAddress + 0x1008), "8-aligned after \"quiet\\0\"");
        int at = (int)(node - SegmentAddress);
        Assert.That(U64(s, at), Is.Zero, "next");
        Assert.That(U32(s, at + 8), Is.EqualTo(1), "SETUP_E820_EXT");
        Assert.That(U32(s, at + 12), Is.EqualTo(3 * 20), "len");
        Assert.That(U64(s, at + 16), Is.EqualTo(0x100000UL * 129), "entry 128 first");
        Assert.That(s.Length, Is.EqualTo(at + 16 + 60));
    }

    [Test]
    public void A_command_line_longer_than_cmdline_size_is_refused()
    {
        var e = Assert.Throws<KexecException>(() => BootParams.Build(Kernel(), 0x9000, new string('x', 2048), null, Map(1), []));
        Assert.That(e!.Message, Does.Contain("2048 bytes").And.Contain("2047"));
        Assert.DoesNotThrow(() => BootParams.Build(Kernel(), 0x9000, new string('x', 2047), null, Map(1), []));
    }
}
