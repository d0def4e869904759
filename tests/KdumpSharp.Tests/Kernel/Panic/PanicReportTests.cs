using System.Text;
using KdumpSharp.Kernel.Panic;
using KdumpSharp.Kernel.Printk;

namespace KdumpSharp.Tests.Kernel.Panic;

/// <summary>Logs shaped after real x86_64 crashes of Debian's 6.1 and 6.12 kernels (trimmed stack and register dumps).</summary>
public class PanicReportTests
{
    private const string Boot =
        """
        Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)
        Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/vda1 ro crashkernel=256M
        x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'
        systemd[1]: Started systemd-journald.service - Journal Service.
        """;

    private static List<LogRecord> Records(params string[] blocks)
    {
        var records = new List<LogRecord>();
        ulong ts = 1_000_000_000;
        foreach (string block in blocks)
        {
            foreach (string line in block.Split('\n'))
            {
                records.Add(new LogRecord(LogRecordKind.Text, (ulong)records.Count, ts, new PrintkCaller(1), Encoding.UTF8.GetBytes(line)));
                ts += 1_000_000;
            }
        }
        return records;
    }

    [Test]
    public void Sysrq_on_6_1()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            sysrq: Trigger a crash
            Kernel panic - not syncing: sysrq triggered crash
            CPU: 1 PID: 612 Comm: bash Kdump: loaded Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
            Call Trace:
             <TASK>
             dump_stack_lvl+0x44/0x5c
             panic+0x118/0x2ed
             sysrq_handle_crash+0x16/0x20
             __handle_sysrq.cold+0x43/0x11b
             write_sysrq_trigger+0x24/0x40
             </TASK>
            Kernel Offset: 0x1c400000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
            """));

        Assert.That(report, Is.Not.Null);
        Assert.That(report!.Message.Text, Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
        Assert.That(report.Message.Sequence, Is.EqualTo(5));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.Sysrq));
        Assert.That(report.Cause?.Text, Is.EqualTo("sysrq: Trigger a crash"));
        Assert.That(report.Banner, Is.EqualTo(new OopsBanner(1, null, 612, "bash", true, null, "6.1.0-18-amd64")));
        Assert.That(report.HardwareName, Is.EqualTo("QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"));
    }

    [Test]
    public void Null_dereference_oops_with_panic_on_oops_on_6_1()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            crashme: loading out-of-tree module taints kernel.
            BUG: kernel NULL pointer dereference, address: 0000000000000000
            #PF: supervisor write access in kernel mode
            #PF: error_code(0x0002) - not-present page
            PGD 0 P4D 0 
            Oops: 0002 [#1] PREEMPT SMP NOPTI
            CPU: 0 PID: 1234 Comm: insmod Kdump: loaded Tainted: G           OE      6.1.0-18-amd64 #1  Debian 6.1.76-1
            Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
            RIP: 0010:crashme_init+0x11/0x1000 [crashme]
            RSP: 0018:ffffb1a0c0b3bc88 EFLAGS: 00010246
            Call Trace:
             <TASK>
             do_one_initcall+0x5a/0x220
             do_init_module+0x4a/0x1f0
             </TASK>
            Modules linked in: crashme(OE+) intel_rapl_msr intel_rapl_common
            CR2: 0000000000000000
            ---[ end trace 0000000000000000 ]---
            RIP: 0010:crashme_init+0x11/0x1000 [crashme]
            Kernel panic - not syncing: Fatal exception
            Kernel Offset: 0x2a600000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
            ---[ end Kernel panic - not syncing: Fatal exception ]---
            """));

        Assert.That(report!.Message.Text, Is.EqualTo("Kernel panic - not syncing: Fatal exception"));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.NullPointerDereference));
        Assert.That(report.Cause?.Text, Is.EqualTo("BUG: kernel NULL pointer dereference, address: 0000000000000000"));
        Assert.That(report.Banner, Is.EqualTo(new OopsBanner(0, null, 1234, "insmod", true, "G           OE", "6.1.0-18-amd64")));
    }

    [Test]
    public void General_protection_fault_on_6_12()
    {
        PanicReport? report = PanicReport.Find(Records(
            """
            Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI
            CPU: 3 UID: 0 PID: 4242 Comm: kworker/3:1 Not tainted 6.12.9-amd64 #1 Debian 6.12.9-1
            Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.3-debian-1.16.3-2 04/01/2014
            Workqueue: events foo_work_fn
            RIP: 0010:list_del+0x1a/0x60
            Kernel panic - not syncing: Fatal exception
            """));

        Assert.That(report!.Reason, Is.EqualTo(PanicReason.GeneralProtectionFault));
        Assert.That(report.Cause?.Text, Does.StartWith("Oops: general protection fault, probably for non-canonical address"));
        Assert.That(report.Banner, Is.EqualTo(new OopsBanner(3, 0, 4242, "kworker/3:1", false, null, "6.12.9-amd64")));
    }

    [Test]
    public void Bug_on_6_12_with_a_comm_containing_a_space()
    {
        PanicReport? report = PanicReport.Find(Records(
            """
            ------------[ cut here ]------------
            kernel BUG at mm/slub.c:435!
            Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
            CPU: 2 UID: 1000 PID: 777 Comm: Web Content Tainted: G        W          6.12.9-amd64 #1 Debian 6.12.9-1
            Tainted: [W]=WARN
            Hardware name: LENOVO 20XW0055GE/20XW0055GE, BIOS N32ET86W (1.62 ) 07/04/2023
            RIP: 0010:kmem_cache_free+0x3c0/0x3d0
            Kernel panic - not syncing: Fatal exception
            """));

        Assert.That(report!.Message.Text, Is.EqualTo("Kernel panic - not syncing: Fatal exception"));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.Bug));
        Assert.That(report.Cause?.Text, Is.EqualTo("kernel BUG at mm/slub.c:435!"));
        Assert.That(report.Banner, Is.EqualTo(new OopsBanner(2, 1000, 777, "Web Content", false, "G        W", "6.12.9-amd64")));
        Assert.That(report.HardwareName, Is.EqualTo("LENOVO 20XW0055GE/20XW0055GE, BIOS N32ET86W (1.62 ) 07/04/2023"));
    }

    [Test]
    public void Soft_lockup_with_softlockup_panic()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:999]
            Modules linked in: spin(OE)
            CPU: 1 PID: 999 Comm: spin Tainted: G           OE      6.1.0-18-amd64 #1  Debian 6.1.76-1
            RIP: 0010:spin_fn+0x5/0x10 [spin]
            Kernel panic - not syncing: softlockup: hung tasks
            CPU: 1 PID: 999 Comm: spin Tainted: G           OEL     6.1.0-18-amd64 #1  Debian 6.1.76-1
            """));

        Assert.That(report!.Reason, Is.EqualTo(PanicReason.SoftLockup));
        Assert.That(report.Cause?.Text, Is.EqualTo("watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:999]"));
        Assert.That(report.Banner?.Taint, Is.EqualTo("G           OE"), "the banner right after the watchdog report");
    }

    [Test]
    public void Hung_task_panic_names_the_detector_as_the_panicking_task()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            INFO: task kworker/0:2:85 blocked for more than 120 seconds.
                  Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1
            "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
            task:kworker/0:2     state:D stack:0     pid:85    ppid:2      flags:0x00004000
            Call Trace:
             <TASK>
             __schedule+0x34d/0x9e0
             </TASK>
            Kernel panic - not syncing: hung_task: blocked tasks
            CPU: 0 PID: 35 Comm: khungtaskd Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            """));

        Assert.That(report!.Reason, Is.EqualTo(PanicReason.HungTask));
        Assert.That(report.Cause?.Text, Is.EqualTo("INFO: task kworker/0:2:85 blocked for more than 120 seconds."));
        Assert.That(report.Banner?.Comm, Is.EqualTo("khungtaskd"));
    }

    [Test]
    public void Out_of_memory_with_panic_on_oom()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
            CPU: 0 PID: 800 Comm: stress Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            Mem-Info:
            active_anon:1 inactive_anon:245123 isolated_anon:0
            Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled
            CPU: 0 PID: 800 Comm: stress Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            """));

        Assert.That(report!.Reason, Is.EqualTo(PanicReason.OutOfMemory));
        Assert.That(report.Cause?.Text, Does.StartWith("stress invoked oom-killer"));
        Assert.That(report.Banner?.Pid, Is.EqualTo(800));
    }

    [Test]
    public void Oops_without_a_panic_line_uses_the_die_header()
    {
        // kdump runs on an oops in interrupt context even without panic_on_oops: no "Kernel panic" line.
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            BUG: unable to handle page fault for address: ffffffffc0a01000
            #PF: supervisor write access in kernel mode
            #PF: error_code(0x0003) - permissions violation
            PGD 1a1e0f067 P4D 1a1e0f067 PUD 1a1e11067 PMD 1034a4067 PTE 800000010c4ab061
            Oops: 0003 [#1] PREEMPT SMP NOPTI
            CPU: 2 PID: 0 Comm: swapper/2 Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            """));

        Assert.That(report!.Message.Text, Is.EqualTo("Oops: 0003 [#1] PREEMPT SMP NOPTI"));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.PageFault));
        Assert.That(report.Cause?.Text, Is.EqualTo("BUG: unable to handle page fault for address: ffffffffc0a01000"));
        Assert.That(report.Banner?.Comm, Is.EqualTo("swapper/2"));
    }

    [Test]
    public void Old_sysrq_wording_wins_as_crash_ranks_it_first()
    {
        PanicReport? report = PanicReport.Find(Records(
            """
            SysRq : Trigger a crash
            BUG: unable to handle kernel NULL pointer dereference at 0000000000000000
            IP: sysrq_handle_crash+0x16/0x20
            Oops: 0002 [#1] SMP
            CPU: 0 PID: 1 Comm: bash Not tainted 4.9.0-8-amd64 #1 Debian 4.9.130-2
            """));

        Assert.That(report!.Message.Text, Is.EqualTo("SysRq : Trigger a crash"));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.Sysrq));
        Assert.That(report.Cause, Is.Null);
        Assert.That(report.Banner?.Release, Is.EqualTo("4.9.0-8-amd64"));
    }

    [Test]
    public void The_fatal_oops_is_the_last_before_the_panic_not_the_first_in_the_log()
    {
        PanicReport? report = PanicReport.Find(Records(Boot,
            """
            BUG: kernel NULL pointer dereference, address: 0000000000000008
            #PF: supervisor read access in kernel mode
            Oops: 0000 [#1] PREEMPT SMP NOPTI
            CPU: 2 PID: 300 Comm: cat Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
            ---[ end trace 0000000000000000 ]---
            general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#2] PREEMPT SMP NOPTI
            CPU: 0 PID: 0 Comm: swapper/0 Tainted: G      D            6.1.0-18-amd64 #1  Debian 6.1.76-1
            Kernel panic - not syncing: Fatal exception in interrupt
            """));

        Assert.That(report!.Reason, Is.EqualTo(PanicReason.GeneralProtectionFault));
        Assert.That(report.Banner?.Cpu, Is.EqualTo(0));
        Assert.That(report.Banner?.Taint, Is.EqualTo("G      D"));
    }

    [TestCase("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", PanicReason.RootMountFailed)]
    [TestCase("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", PanicReason.InitKilled)]
    [TestCase("Kernel panic - not syncing: Hard LOCKUP", PanicReason.HardLockup)]
    [TestCase("Kernel panic - not syncing: RCU Stall", PanicReason.RcuStall)]
    [TestCase("Kernel panic - not syncing: NMI: Not continuing", PanicReason.Nmi)]
    [TestCase("Kernel panic - not syncing: Fatal machine check", PanicReason.MachineCheck)]
    [TestCase("Kernel panic - not syncing: kernel: panic_on_warn set ...", PanicReason.Warning)]
    [TestCase("Kernel panic - not syncing: System is deadlocked on memory", PanicReason.OutOfMemory)]
    [TestCase("Kernel panic - not syncing: my_driver: firmware gave up", PanicReason.ExplicitPanic)]
    [TestCase("Kernel panic - not syncing: Fatal exception", PanicReason.Oops)]
    public void Panic_messages_name_their_reason(string line, PanicReason reason)
    {
        Assert.That(PanicReport.Find(Records(Boot, line))?.Reason, Is.EqualTo(reason));
    }

    [Test]
    public void Lines_inside_multi_line_records_are_searched()
    {
        var records = new List<LogRecord>
        {
            new(LogRecordKind.DataLess, 0, 1, null, ReadOnlyMemory<byte>.Empty),
            new(LogRecordKind.Text, 1, 2, null, "first\nKernel panic - not syncing: from a continuation\nlast"u8.ToArray()),
        };

        PanicReport? report = PanicReport.Find(records);

        Assert.That(report!.Message, Is.EqualTo(new LogLine(1, 1, 2, "Kernel panic - not syncing: from a continuation")));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.ExplicitPanic));
        Assert.That(report.Banner, Is.Null);
    }

    [Test]
    public void Ordinary_log_has_no_panic()
    {
        Assert.That(PanicReport.Find(Records(Boot, "WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2")), Is.Null);
    }
}

public class OopsBannerTests
{
    [TestCase("CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1", 0, null, 1, "swapper/0", false, null, "6.1.0-18-amd64")]
    [TestCase("CPU: 12 PID: 4321 Comm: a b c Kdump: loaded Tainted: P           O      5.10.0-28-amd64 #1 Debian 5.10.209-2", 12, null, 4321, "a b c", true, "P           O", "5.10.0-28-amd64")]
    [TestCase("CPU: 1 UID: 0 PID: 2 Comm: kthreadd Tainted: G            E      6.12.9-amd64 #1 Debian 6.12.9-1", 1, 0u, 2, "kthreadd", false, "G            E", "6.12.9-amd64")]
    [TestCase("CPU: 5 UID: 0 PID: 77 Comm: x Tainted: G           OE      6.16.0 #1 PREEMPT(voluntary) ", 5, 0u, 77, "x", false, "G           OE", "6.16.0")]
    [TestCase("CPU: 7 UID: 0 PID: 9 Comm: ksoftirqd/7 Not tainted 6.15.4-amd64 #1 PREEMPT(lazy)  Debian 6.15.4-1 ", 7, 0u, 9, "ksoftirqd/7", false, null, "6.15.4-amd64")]
    [TestCase("CPU: 0 PID: 1 Comm: init Tainted: G    B D W  OE  ", 0, null, 1, "init", false, "G    B D W  OE", null)]
    public void Parses_the_dump_stack_banner(string line, int cpu, uint? uid, int pid, string comm, bool kdump, string? taint, string? release)
    {
        Assert.That(OopsBanner.TryParse(line, out OopsBanner banner), Is.True);
        Assert.That(banner, Is.EqualTo(new OopsBanner(cpu, uid, pid, comm, kdump, taint, release)));
    }

    [TestCase("WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2")]
    [TestCase("CPU: 0 PID: 1 Comm: nothing after")]
    [TestCase("CPU: x PID: 1 Comm: bad Not tainted 6.1")]
    [TestCase("CPU: 99999999999 PID: 1 Comm: overflow Not tainted 6.1")]
    public void Rejects_other_lines(string line)
    {
        Assert.That(OopsBanner.TryParse(line, out _), Is.False);
    }
}
