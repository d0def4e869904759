namespace KdumpSharp.Kernel.Panic;

/// <summary>Why the kernel went down, as far as its log tells.</summary>
public enum PanicReason
{
    /// <summary>The log shows no recognizable panic or oops.</summary>
    Unknown,

    /// <summary>panic() with a message not classified below (a driver or subsystem gave up).</summary>
    ExplicitPanic,

    /// <summary>echo c &gt; /proc/sysrq-trigger or Alt-SysRq-C: "sysrq: Trigger a crash", panic("sysrq triggered crash") (drivers/tty/sysrq.c).</summary>
    Sysrq,

    /// <summary>An oops whose kind the log does not say more about ("Oops: 0002 [#1]", "Fatal exception").</summary>
    Oops,

    /// <summary>BUG()/BUG_ON(): "kernel BUG at file:line!" (include/asm-generic/bug.h, lib/bug.c).</summary>
    Bug,

    /// <summary>A kernel access to a NULL pointer: "BUG: kernel NULL pointer dereference, address: …" (arch/x86/mm/fault.c).</summary>
    NullPointerDereference,

    /// <summary>Any other bad kernel access: "BUG: unable to handle page fault for address: …", "Unable to handle kernel paging request".</summary>
    PageFault,

    /// <summary>"general protection fault" (arch/x86/kernel/traps.c).</summary>
    GeneralProtectionFault,

    /// <summary>"invalid opcode" without a preceding "kernel BUG at" line.</summary>
    InvalidOpcode,

    /// <summary>"double fault".</summary>
    DoubleFault,

    /// <summary>"divide error".</summary>
    DivideError,

    /// <summary>"stack segment".</summary>
    StackSegment,

    /// <summary>WARN() with panic_on_warn: "WARNING: CPU: …", "panic_on_warn set" (kernel/panic.c).</summary>
    Warning,

    /// <summary>Soft lockup watchdog: "watchdog: BUG: soft lockup - CPU#…", panic "softlockup: hung tasks" (kernel/watchdog.c).</summary>
    SoftLockup,

    /// <summary>Hard lockup (NMI watchdog): "Watchdog detected hard LOCKUP on cpu …", panic "Hard LOCKUP" (kernel/watchdog_perf.c, watchdog_hld.c before 6.6).</summary>
    HardLockup,

    /// <summary>Hung task detector: "INFO: task …:… blocked for more than … seconds.", panic "hung_task: blocked tasks" (kernel/hung_task.c).</summary>
    HungTask,

    /// <summary>RCU stall with panic_on_rcu_stall: panic "RCU Stall" (kernel/rcu/tree_stall.h).</summary>
    RcuStall,

    /// <summary>Out of memory with panic_on_oom, or nothing left to kill (mm/oom_kill.c).</summary>
    OutOfMemory,

    /// <summary>Machine check or other hardware error: "Fatal machine check", "[Hardware Error]: " (arch/x86/kernel/cpu/mce).</summary>
    MachineCheck,

    /// <summary>Unknown or fatal NMI with unknown_nmi_panic/panic_on_io_nmi: "NMI: Not continuing" (arch/x86/kernel/nmi.c).</summary>
    Nmi,

    /// <summary>init (PID 1) or the idle task exited: "Attempted to kill init!", "Attempted to kill the idle task!" (kernel/exit.c).</summary>
    InitKilled,

    /// <summary>"VFS: Unable to mount root fs on …" (init/do_mounts.c).</summary>
    RootMountFailed,
}
