using KdumpSharp.Analysis;
using KdumpSharp.Tasks;

namespace KdumpSharp.Tests.Tasks;

public class KernelTaskTests
{
    private static KernelTask Task(uint state, uint exitState = 0, uint flags = 0) => new(0x1000, 5, 5, 1, 0, state, exitState, flags, "t", null, false);

    [TestCase(0x000u, 0u, "RU")]
    [TestCase(0x001u, 0u, "IN")]
    [TestCase(0x002u, 0u, "UN")]
    [TestCase(0x402u, 0u, "ID")]
    [TestCase(0x004u, 0u, "ST")]
    [TestCase(0x008u, 0u, "TR")]
    [TestCase(0x000u, 0x20u, "ZO")]
    [TestCase(0x080u, 0x10u, "DE")]
    [TestCase(0x040u, 0u, "PA")]
    public void State_letters_follow_include_linux_sched_h(uint state, uint exitState, string expected) =>
        Assert.That(Task(state, exitState).StateName, Is.EqualTo(expected));

    [Test]
    public void Pf_kthread_marks_kernel_threads() =>
        Assert.That((Task(1, flags: 0x0020_0000).IsKernelThread, Task(1).IsKernelThread), Is.EqualTo((true, false)));

    [TestCase(0UL, "Not tainted")]
    [TestCase(1UL << 9, "Tainted: GW")]
    [TestCase(1UL | (1UL << 12) | (1UL << 13), "Tainted: POE")]
    [TestCase(1UL << 40, "Tainted: G?")]
    public void Taint_mask_becomes_print_tainted_letters(ulong mask, string expected) =>
        Assert.That(TriageReport.DescribeTaint(mask), Is.EqualTo(expected));
}
