namespace KdumpSharp.Tasks;

/// <summary>
/// One task (thread) of the crashed kernel, read from its task_struct (include/linux/sched.h).
/// <see cref="RunningOnCpu"/> is the CPU whose current task it was at the crash, if any.
/// </summary>
public sealed record KernelTask(
    ulong Address,
    int Pid,
    int Tgid,
    int ParentPid,
    int Cpu,
    uint State,
    uint ExitState,
    uint Flags,
    string Comm,
    int? RunningOnCpu,
    bool IsIdle)
{
    /// <summary>PF_KTHREAD (include/linux/sched.h).</summary>
    private const uint KernelThreadFlag = 0x0020_0000;

    public bool IsKernelThread => (Flags & KernelThreadFlag) != 0 || IsIdle;

    public bool IsGroupLeader => Pid == Tgid;

    /// <summary>
    /// crash's two-letter state: TASK_* and EXIT_* bits of include/linux/sched.h (6.1–6.12 values):
    /// RU running, IN interruptible, UN uninterruptible, ID idle (UNINTERRUPTIBLE|NOLOAD), ST stopped,
    /// TR traced, ZO zombie, DE dead, PA parked, WA waking, NE new.
    /// </summary>
    public string StateName
    {
        get
        {
            uint s = State | ExitState;
            if ((s & 0x20) != 0) return "ZO";
            if ((s & 0x10) != 0 || (s & 0x80) != 0) return "DE";
            if ((s & 0x40) != 0) return "PA";
            if ((s & 0x08) != 0) return "TR";
            if ((s & 0x04) != 0) return "ST";
            if ((s & 0x200) != 0) return "WA";
            if ((s & 0x800) != 0) return "NE";
            if ((s & 0x402) == 0x402) return "ID";
            if ((s & 0x02) != 0) return "UN";
            if ((s & 0x01) != 0) return "IN";
            return "RU";
        }
    }
}
