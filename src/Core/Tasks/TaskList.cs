using KdumpSharp.Analysis;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Tasks;

/// <summary>
/// Every task of the crashed kernel: the process list from <c>init_task.tasks</c>, each process's
/// threads (the <c>thread_group</c> list up to 6.6, <c>signal->thread_head</c>/<c>thread_node</c>
/// from 6.7), and each CPU's idle task (<c>rq->idle</c>), which no list holds except CPU 0's
/// (init_task itself). The running task per CPU is per-CPU <c>current_task</c> up to 6.1,
/// <c>pcpu_hot.current_task</c> from 6.2 (arch/x86/include/asm/current.h), or <c>rq->curr</c>.
/// Member offsets come from the kernel's BTF, so no offsets are hard-coded.
/// </summary>
public sealed class TaskList
{
    /// <summary>More tasks than PID_MAX_LIMIT (4 M) cannot exist; a longer walk is a corrupt list.</summary>
    public const int MaxTasks = 4 << 20;

    private readonly KernelContext _kernel;
    private readonly VirtualMemory _memory;

    private TaskList(KernelContext kernel)
    {
        _kernel = kernel;
        _memory = kernel.Dump.Virtual;
    }

    public IReadOnlyList<KernelTask> Tasks { get; private set; } = [];

    /// <summary>The task each CPU was running (index = CPU); 0 where unknown.</summary>
    public IReadOnlyList<ulong> RunningTasks { get; private set; } = [];

    /// <summary>What could not be read (a task list running into a missing page), said instead of failing.</summary>
    public IReadOnlyList<string> Problems { get; private set; } = [];

    public KernelTask? FindPid(int pid) => Tasks.FirstOrDefault(t => t.Pid == pid && !t.IsIdle) ?? Tasks.FirstOrDefault(t => t.Pid == pid);

    public KernelTask? RunningOn(int cpu) =>
        cpu >= 0 && cpu < RunningTasks.Count ? Tasks.FirstOrDefault(t => t.Address == RunningTasks[cpu]) : null;

    public static TaskList Read(KernelContext kernel)
    {
        var list = new TaskList(kernel);
        list.Walk();
        return list;
    }

    private void Walk()
    {
        var problems = new List<string>();
        ulong[] running = ReadRunning(problems);
        ulong[] idle = ReadIdle(problems);
        var seen = new HashSet<ulong>();
        var addresses = new List<ulong>();
        ulong initTask = _kernel.Symbols.RequireAddress("init_task");
        ulong tasksOffset = _kernel.Offset("task_struct", "tasks");
        foreach (ulong leader in ListEntries(initTask + tasksOffset, tasksOffset, "init_task.tasks", problems, includeHead: true))
        {
            if (seen.Add(leader))
                addresses.Add(leader);
            foreach (ulong thread in Threads(leader, problems))
                if (seen.Add(thread))
                    addresses.Add(thread);
        }
        foreach (ulong task in idle.Concat(running))
            if (task != 0 && seen.Add(task))
                addresses.Add(task);
        var tasks = new List<KernelTask>();
        foreach (ulong address in addresses)
        {
            try
            {
                tasks.Add(ReadTask(address, running, idle));
            }
            catch (MemoryFaultException e)
            {
                problems.Add($"task_struct at 0x{address:x}: {e.Message}");
            }
        }
        Tasks = tasks.OrderBy(t => t.Pid).ThenBy(t => t.Cpu).ToList();
        RunningTasks = running;
        Problems = problems;
    }

    private IEnumerable<ulong> Threads(ulong leader, List<string> problems)
    {
        if (_kernel.HasMember("task_struct", "thread_group"))
        {
            ulong offset = _kernel.Offset("task_struct", "thread_group");
            return ListEntries(leader + offset, offset, $"thread_group of 0x{leader:x}", problems, includeHead: false);
        }
        ulong signal;
        try
        {
            signal = _memory.ReadUInt64(leader + _kernel.Offset("task_struct", "signal"));
        }
        catch (MemoryFaultException e)
        {
            problems.Add($"signal of task 0x{leader:x}: {e.Message}");
            return [];
        }
        if (signal == 0)
            return [];
        ulong head = signal + _kernel.Offset("signal_struct", "thread_head");
        return ListEntries(head, _kernel.Offset("task_struct", "thread_node"), $"thread_head of 0x{leader:x}", problems, includeHead: false);
    }

    /// <summary>
    /// The structures on a circular list_head list (include/linux/list.h), as container addresses.
    /// With <paramref name="includeHead"/> the head is itself an entry (init_task.tasks). Stops at a
    /// missing page or a list longer than <see cref="MaxTasks"/>, recording why.
    /// </summary>
    private List<ulong> ListEntries(ulong head, ulong memberOffset, string what, List<string> problems, bool includeHead)
    {
        var entries = new List<ulong>();
        if (includeHead)
            entries.Add(head - memberOffset);
        var visited = new HashSet<ulong> { head };
        ulong node = head;
        try
        {
            while (true)
            {
                node = _memory.ReadUInt64(node);
                if (node == head)
                    return entries;
                if (!visited.Add(node) || entries.Count >= MaxTasks || node == 0)
                {
                    problems.Add($"{what}: the list does not lead back to its head (at 0x{node:x}); {entries.Count} entries read");
                    return entries;
                }
                entries.Add(node - memberOffset);
            }
        }
        catch (MemoryFaultException e)
        {
            problems.Add($"{what}: {e.Message}; {entries.Count} entries read");
            return entries;
        }
    }

    private ulong[] ReadRunning(List<string> problems)
    {
        var running = new ulong[_kernel.CpuCount];
        ulong? perCpu = _kernel.Symbols.Address("current_task");
        ulong field = 0;
        if (perCpu is null && _kernel.Symbols.Address("pcpu_hot") is ulong hot)
        {
            perCpu = hot;
            field = _kernel.Offset("pcpu_hot", "current_task");
        }
        for (int cpu = 0; cpu < running.Length; cpu++)
        {
            try
            {
                running[cpu] = perCpu is ulong symbol
                    ? _memory.ReadUInt64(_kernel.PerCpu(symbol, cpu) + field)
                    : _memory.ReadUInt64(_kernel.PerCpu(_kernel.Symbols.RequireAddress("runqueues"), cpu) + _kernel.Offset("rq", "curr"));
            }
            catch (MemoryFaultException e)
            {
                problems.Add($"running task of CPU {cpu}: {e.Message}");
            }
        }
        return running;
    }

    private ulong[] ReadIdle(List<string> problems)
    {
        var idle = new ulong[_kernel.CpuCount];
        ulong runqueues = _kernel.Symbols.RequireAddress("runqueues");
        ulong offset = _kernel.Offset("rq", "idle");
        for (int cpu = 0; cpu < idle.Length; cpu++)
        {
            try
            {
                idle[cpu] = _memory.ReadUInt64(_kernel.PerCpu(runqueues, cpu) + offset);
            }
            catch (MemoryFaultException e)
            {
                problems.Add($"idle task of CPU {cpu}: {e.Message}");
            }
        }
        return idle;
    }

    private KernelTask ReadTask(ulong task, ulong[] running, ulong[] idle)
    {
        int Int(string member) => (int)_memory.ReadUInt32(task + _kernel.Offset("task_struct", member));
        string stateMember = _kernel.HasMember("task_struct", "__state") ? "__state" : "state";
        ulong parent = _memory.ReadUInt64(task + _kernel.Offset("task_struct", "real_parent"));
        int ppid = parent == 0 || parent == task ? 0 : (int)_memory.ReadUInt32(parent + _kernel.Offset("task_struct", "pid"));
        int cpu = _kernel.HasMember("task_struct", "cpu") ? Int("cpu") : (int)_memory.ReadUInt32(task + _kernel.Offset("task_struct", "thread_info.cpu"));
        int runningOn = Array.IndexOf(running, task);
        int idleOn = Array.IndexOf(idle, task);
        return new KernelTask(task, Int("pid"), Int("tgid"), ppid, cpu, (uint)Int(stateMember), (uint)Int("exit_state"), (uint)Int("flags"),
            _kernel.ReadString(task + _kernel.Offset("task_struct", "comm"), 16), runningOn >= 0 ? runningOn : null, idleOn >= 0);
    }
}
