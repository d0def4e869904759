using System.Text;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel;

public class UtsNameTests
{
    /// <summary>init_uts_ns with its name 4 bytes in (struct kref first, as before 5.11), so a reader
    /// that ignores OFFSET(uts_namespace.name) sees shifted fields.</summary>
    private static (KernelMemoryBuilder Memory, ulong NameAddress) Build(params string[] fields)
    {
        var memory = new KernelMemoryBuilder();
        byte[] ns = new byte[4 + UtsName.Size + 8];
        ns[0] = 3; // kref
        for (int i = 0; i < fields.Length; i++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(fields[i]);
            bytes.AsSpan(0, Math.Min(bytes.Length, UtsName.FieldLength)).CopyTo(ns.AsSpan(4 + i * UtsName.FieldLength));
        }
        ulong address = memory.Place(ns);
        memory.Vmcoreinfo.Symbol("init_uts_ns", address).Offset("uts_namespace.name", 4);
        return (memory, address + 4);
    }

    [Test]
    public void Reads_the_six_fields_of_init_uts_ns()
    {
        (KernelMemoryBuilder memory, _) = Build("Linux", "bookworm-vm", "6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "x86_64", "(none)");

        UtsName uts = UtsName.Read(memory.Virtual, memory.Vmcoreinfo.Build());

        Assert.That(uts, Is.EqualTo(new UtsName("Linux", "bookworm-vm", "6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "x86_64", "(none)")));
    }

    [Test]
    public void A_field_filling_all_65_bytes_stops_at_its_end()
    {
        string longName = new('n', 65);
        (KernelMemoryBuilder memory, _) = Build("Linux", longName, "6.12.9-amd64", "", "x86_64", "");

        UtsName uts = UtsName.Read(memory.Virtual, memory.Vmcoreinfo.Build());

        Assert.That(uts.NodeName, Is.EqualTo(longName));
        Assert.That(uts.Release, Is.EqualTo("6.12.9-amd64"));
    }

    [Test]
    public void Missing_symbol_is_a_kernel_data_error()
    {
        (KernelMemoryBuilder memory, _) = Build("Linux");
        memory.Vmcoreinfo.Remove("SYMBOL(init_uts_ns)");

        Assert.That(() => UtsName.Read(memory.Virtual, memory.Vmcoreinfo.Build()),
            Throws.TypeOf<KernelDataException>().With.Message.Contains("SYMBOL(init_uts_ns)"));
    }

    [Test]
    public void Missing_page_is_a_memory_fault_at_its_address()
    {
        (KernelMemoryBuilder memory, ulong name) = Build("Linux");
        memory.Drop(name);

        MemoryFaultException? fault = Assert.Throws<MemoryFaultException>(() => UtsName.Read(memory.Virtual, memory.Vmcoreinfo.Build()));
        Assert.That(fault!.Address, Is.EqualTo(name));
    }

    [Test]
    public void Parse_rejects_a_short_buffer()
    {
        Assert.That(() => UtsName.Parse(new byte[389]), Throws.TypeOf<KernelDataException>());
    }
}
