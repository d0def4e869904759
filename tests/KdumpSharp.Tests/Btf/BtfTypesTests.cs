using KdumpSharp.Btf;
using KdumpSharp.Kernel;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Btf;

public class BtfTypesTests
{
    /// <summary>A miniature task_struct: an anonymous union, a bitfield pair, a char array, an ENUM64 and a typedef chain.</summary>
    internal static byte[] SampleBlob()
    {
        var b = new BtfBuilder();
        uint u32 = b.Int("unsigned int", 4);
        uint s32 = b.Int("int", 4, signed: true);
        uint ch = b.Int("char", 1, signed: true);
        uint u64 = b.Int("long unsigned int", 8);
        uint comm = b.Array(ch, u32, 16);
        uint listHead = b.Aggregate(BtfKind.Struct, "list_head", 16, ("next", 0, 0, 0), ("prev", 0, 64, 0));
        uint listPtr = b.Pointer(listHead);
        // Patch-free self reference: list_head members point at list_head via a later pointer type id.
        uint pidT = b.Typedef("pid_t", s32);
        uint constPid = b.Const(pidT);
        uint inner = b.Aggregate(BtfKind.Struct, "", 16, ("tasks", listHead, 0, 0));
        uint anon = b.Aggregate(BtfKind.Union, "", 16, ("", inner, 0, 0), ("raw", u64, 0, 0));
        uint flags = b.Aggregate(BtfKind.Struct, "flags", 4, ("low", u32, 0, 3), ("high", u32, 3, 5));
        uint state = b.Enum64("zone_stat_item", ("NR_FREE_PAGES", 0), ("NR_ZONE_LRU_BASE", 1), ("BIG", unchecked((long)0x8000_0000_0000_0001)));
        b.Aggregate(BtfKind.Struct, "task_struct", 64,
            ("__state", u32, 0, 0), ("pid", constPid, 32, 0), ("", anon, 64, 0), ("bits", flags, 192, 0),
            ("comm", comm, 256, 0), ("mode", state, 384, 0), ("next", listPtr, 448, 0));
        return b.Build();
    }

    [Test]
    public void Finds_members_through_anonymous_unions_and_typedef_chains()
    {
        BtfTypes btf = BtfTypes.Parse(SampleBlob());
        BtfType task = btf.Find("task_struct", BtfKind.Struct)!.Value;
        Assert.Multiple(() =>
        {
            Assert.That(btf.FindMember(task, "tasks")?.BitOffset, Is.EqualTo(64), "anonymous union → anonymous struct → tasks");
            Assert.That(btf.FindMember(task, "comm")?.BitOffset, Is.EqualTo(256));
            Assert.That(btf.SizeOf(btf.FindMember(task, "comm")!.Value.Member.Type), Is.EqualTo(16));
            Assert.That(btf.Resolve(btf.FindMember(task, "pid")!.Value.Member.Type).Name, Is.EqualTo("int"), "const pid_t resolves to int");
            Assert.That(btf.TypeName(btf.FindMember(task, "pid")!.Value.Member.Type), Is.EqualTo("const pid_t"));
            Assert.That(btf.TypeName(btf.FindMember(task, "comm")!.Value.Member.Type), Is.EqualTo("char [16]"));
            Assert.That(btf.FindMember(task, "missing"), Is.Null);
        });
    }

    [Test]
    public void Kind_flag_splits_bit_offset_and_bitfield_size()
    {
        BtfTypes btf = BtfTypes.Parse(SampleBlob());
        BtfType flags = btf.Find("flags", BtfKind.Struct)!.Value;
        BtfMember high = btf.Members(flags)[1];
        Assert.That((high.BitOffset, high.BitfieldSize), Is.EqualTo((3u, 5)));
    }

    [Test]
    public void Enum64_values_use_both_halves()
    {
        BtfTypes btf = BtfTypes.Parse(SampleBlob());
        Assert.That(btf.EnumeratorValue("BIG"), Is.EqualTo(unchecked((long)0x8000_0000_0000_0001)));
        Assert.That(btf.EnumeratorValue("NR_ZONE_LRU_BASE"), Is.EqualTo(1));
    }

    [Test]
    public void Formatter_prints_values_of_bitfields_strings_and_enums()
    {
        BtfTypes btf = BtfTypes.Parse(SampleBlob());
        BtfType task = btf.Find("task_struct", BtfKind.Struct)!.Value;
        byte[] instance = new byte[64];
        instance[4] = 7;
        instance[24] = 0b1010_1101; // low = 5, high = 0b10101 = 21
        "init"u8.CopyTo(instance.AsSpan(32));
        instance[48] = 1;
        string text = string.Join("\n", new BtfFormatter(btf).Values(task, instance, 0x1000));
        Assert.That(text, Does.Contain("pid = 7,"));
        Assert.That(text, Does.Contain("low = 5,"));
        Assert.That(text, Does.Contain("high = 0x15,"));
        Assert.That(text, Does.Contain("comm = \"init\","));
        Assert.That(text, Does.Contain("mode = NR_ZONE_LRU_BASE,"));
        string layout = string.Join("\n", new BtfFormatter(btf).Layout(btf.Find("flags", BtfKind.Struct)!.Value));
        Assert.That(layout, Does.Contain("[0x0:3] unsigned int high:5;"));
        Assert.That(string.Join("\n", new BtfFormatter(btf).Layout(task)), Does.Contain("[0x8] struct list_head tasks;"), "anonymous members expand in place");
    }

    [Test]
    public void Bad_magic_and_oversized_sections_are_typed_errors()
    {
        byte[] blob = SampleBlob();
        byte[] badMagic = (byte[])blob.Clone();
        badMagic[0] = 0;
        Assert.That(Assert.Throws<KernelDataException>(() => BtfTypes.Parse(badMagic))!.Message, Does.Contain("magic"));
        byte[] longTypes = (byte[])blob.Clone();
        longTypes[12] = 0xff;
        longTypes[13] = 0xff;
        Assert.Throws<KernelDataException>(() => BtfTypes.Parse(longTypes));
        Assert.Throws<KernelDataException>(() => BtfTypes.Parse(blob.AsSpan(0, 10)));
    }

    [Test]
    public void A_typedef_loop_is_an_error_not_a_hang()
    {
        var b = new BtfBuilder();
        b.Raw("a", BtfKind.Typedef, 0, 2);
        b.Raw("b", BtfKind.Typedef, 0, 1);
        BtfTypes btf = BtfTypes.Parse(b.Build());
        Assert.Throws<KernelDataException>(() => btf.SizeOf(1));
    }
}
