using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel;

public class UtsNameTests
{
    private static readonly UtsName Bookworm = new("Linux", "bookworm-vm", "6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "x86_64", "(none)");

    private static byte[] Bytes(params string[] fields)
    {
        byte[] b = new byte[UtsName.Size];
        for (int i = 0; i < fields.Length; i++)
        {
            byte[] f = Encoding.UTF8.GetBytes(fields[i]);
            f.AsSpan(0, Math.Min(f.Length, UtsName.FieldLength)).CopyTo(b.AsSpan(i * UtsName.FieldLength));
        }
        return b;
    }

    [Test]
    public void Parses_the_six_fields()
    {
        UtsName uts = UtsName.Parse(Bytes(Bookworm.SysName, Bookworm.NodeName, Bookworm.Release, Bookworm.Version, Bookworm.Machine, Bookworm.DomainName));
        Assert.That(uts, Is.EqualTo(Bookworm));
    }

    [Test]
    public void A_field_filling_all_65_bytes_stops_at_its_end()
    {
        string longName = new('n', 65);
        UtsName uts = UtsName.Parse(Bytes("Linux", longName, "6.12.9-amd64", "", "x86_64", ""));

        Assert.That(uts.NodeName, Is.EqualTo(longName));
        Assert.That(uts.Release, Is.EqualTo("6.12.9-amd64"));
    }

    [Test]
    public void Write_then_parse_round_trips_and_keeps_each_field_terminated()
    {
        byte[] b = new byte[UtsName.Size];
        (Bookworm with { NodeName = new string('x', 80) }).Write(b);

        Assert.That(UtsName.Parse(b), Is.EqualTo(Bookworm with { NodeName = new string('x', 64) }));
    }

    [Test]
    public void Parse_rejects_a_short_buffer()
    {
        Assert.That(() => UtsName.Parse(new byte[389]), Throws.TypeOf<KernelDataException>());
    }

    /// <summary>An ELF dump has no utsname of its own: Find reads init_uts_ns through the kernel image mapping.</summary>
    [Test]
    public void Find_reads_init_uts_ns_from_memory()
    {
        var machine = new KernelImageFixture(small: true);
        byte[] name = new byte[UtsName.Size];
        (Bookworm with { Release = "6.1.0-test" }).Write(name);
        name.CopyTo(machine.Ram, 0x250000);
        ulong symbol = 0x250000 - machine.PhysBase + KernelImageFixture.StartKernelMap;
        byte[] file = new ElfCoreBuilder()
            .AddVmcoreinfo(machine.Vmcoreinfo + $"SYMBOL(init_uts_ns)={symbol:x}\nOFFSET(uts_namespace.name)=0\n")
            .AddLoad(0, machine.Ram)
            .Build();
        using IDumpReader dump = DumpFile.Open(new KdumpSharp.IO.MemorySource("elf", file));

        Assert.That(UtsName.Find(dump), Is.EqualTo(Bookworm with { Release = "6.1.0-test" }));
    }

    [Test]
    public void Find_gives_nothing_without_a_container_copy_or_the_symbol()
    {
        var machine = new KernelImageFixture(small: true);
        using IDumpReader dump = DumpFile.Open(new KdumpSharp.IO.MemorySource("elf", machine.ToElfCore()));

        Assert.That(UtsName.Find(dump), Is.Null);
    }
}
