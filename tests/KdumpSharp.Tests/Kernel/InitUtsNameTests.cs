using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel;

public sealed class InitUtsNameTests
{
    private static readonly UtsName Uts = new("Linux", "crashed", "6.12.117+deb12-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1", "x86_64", "(none)");

    /// <summary>RAM [0, 1 GiB) with the utsname written at physical <paramref name="at"/>.</summary>
    private static SparsePhysicalMemory Memory(ulong at, UtsName uts)
    {
        var memory = new SparsePhysicalMemory(PhysicalRange.FromLength(0, 1 << 30));
        var bytes = new byte[390];
        uts.Write(bytes);
        memory.Write(at, bytes);
        return memory;
    }

    private static Vmcoreinfo Info(string extra) => Vmcoreinfo.Parse(System.Text.Encoding.ASCII.GetBytes(
        "OSRELEASE=6.12.117+deb12-amd64\nSYMBOL(init_top_pgt)=ffffffff8ba0c000\n" + extra));

    [Test]
    public void Reads_init_uts_ns_through_the_kernel_text_mapping()
    {
        // __pa_symbol(0xffffffff82a13440 + 8) = 0x2a13448 + phys_base 0x1c000000.
        SparsePhysicalMemory memory = Memory(0x1ea13448, Uts);
        Vmcoreinfo info = Info("SYMBOL(init_uts_ns)=ffffffff82a13440\nOFFSET(uts_namespace.name)=8\n");
        Assert.That(InitUtsName.TryRead(memory, info, 0x1c000000), Is.EqualTo(Uts));
        Assert.That(InitUtsName.TryRead(memory, info, 0), Is.Null, "with the wrong phys_base the read finds no utsname");
    }

    [Test]
    public void Without_the_exported_offset_the_name_follows_a_four_byte_kref()
    {
        SparsePhysicalMemory memory = Memory(0x5004, Uts);
        Assert.That(InitUtsName.TryRead(memory, Info("SYMBOL(init_uts_ns)=ffffffff80005000\n"), 0), Is.EqualTo(Uts));
    }

    [TestCase("SYMBOL(init_uts_ns)=ffffffff80005000\nOFFSET(uts_namespace.name)=0\n", "6.1.0-56-amd64", TestName = "A release other than OSRELEASE is discarded")]
    [TestCase("SYMBOL(init_uts_ns)=ffffffffc0005000\nOFFSET(uts_namespace.name)=0\n", null, TestName = "An address outside the dump gives nothing")]
    [TestCase("SYMBOL(init_uts_ns)=ffff888000005000\nOFFSET(uts_namespace.name)=0\n", null, TestName = "A symbol below the kernel text mapping gives nothing")]
    [TestCase("OFFSET(uts_namespace.name)=0\n", null, TestName = "Without SYMBOL(init_uts_ns) there is nothing to read")]
    public void Doubtful_results_are_discarded(string extra, string? releaseInMemory)
    {
        SparsePhysicalMemory memory = Memory(0x5000, Uts with { Release = releaseInMemory ?? Uts.Release });
        Assert.That(InitUtsName.TryRead(memory, Info(extra), 0), Is.Null);
    }

    [Test]
    public void A_kernel_not_known_to_be_x86_64_is_not_translated()
    {
        SparsePhysicalMemory memory = Memory(0x5000, Uts);
        Vmcoreinfo info = Vmcoreinfo.Parse("OSRELEASE=6.12.117+deb12-amd64\nSYMBOL(init_uts_ns)=ffffffff80005000\nOFFSET(uts_namespace.name)=0\n"u8);
        Assert.That(InitUtsName.TryRead(memory, info, 0), Is.Null);
    }
}
