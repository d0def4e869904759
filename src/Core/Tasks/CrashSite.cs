using KdumpSharp.Analysis;
using KdumpSharp.Memory;

namespace KdumpSharp.Tasks;

/// <summary>
/// Which CPU panicked and which task it was running: <c>panic_cpu</c> (kernel/panic.c, an atomic_t
/// set to the panicking CPU, −1 otherwise), else the CPU of the oops banner in the log
/// ("CPU: n PID: p Comm: ..." from lib/dump_stack.c), as drgn's crashed_thread() and crash's
/// panic-task search do.
/// </summary>
public sealed record CrashSite(int Cpu, KernelTask? Task, string Source)
{
    public static CrashSite? Find(KernelContext kernel, TaskList tasks)
    {
        if (kernel.Symbols.Address("panic_cpu") is ulong panicCpu)
        {
            try
            {
                int cpu = (int)kernel.Dump.Virtual.ReadUInt32(panicCpu);
                if (cpu >= 0 && cpu < kernel.CpuCount)
                    return new CrashSite(cpu, tasks.RunningOn(cpu), "panic_cpu");
            }
            catch (MemoryFaultException)
            {
                // Fall through to the log.
            }
        }
        if (kernel.Dump.Log.Records.Count > 0 && Kernel.Panic.PanicReport.Find(kernel.Dump.Log.Records)?.Banner is { } banner
            && banner.Cpu >= 0 && banner.Cpu < kernel.CpuCount)
            return new CrashSite(banner.Cpu, tasks.RunningOn(banner.Cpu), "oops banner in the log");
        return null;
    }
}
