using KdumpSharp.Btf;
using KdumpSharp.Tests.Btf;

namespace KdumpSharp.Tests.Fuzzing;

public class BtfFuzzTests
{
    [Test]
    public void Damaged_btf_fails_only_with_typed_errors()
    {
        int rejected = KernelTableFuzz.Run("btf", BtfTypesTests.SampleBlob(), bytes =>
        {
            BtfTypes btf = BtfTypes.Parse(bytes);
            if (btf.Find("task_struct", BtfKind.Struct) is BtfType task)
            {
                var formatter = new BtfFormatter(btf);
                formatter.Layout(task);
                formatter.Values(task, new byte[64], 0);
                btf.FindMember(task, "tasks");
            }
            for (uint id = 1; id <= btf.Count; id++)
            {
                btf.SizeOf(id);
                btf.TypeName(id);
            }
        });
        Assert.That(rejected, Is.GreaterThan(0), "no damage was ever detected: the checks cannot be working");
    }
}
