using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Tasks;
using KdumpSharp.Unwind;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>bt DUMP [PID|-a]</c>: kernel backtraces unwound with the dump's own ORC tables, like crash's bt.</summary>
internal static class BtCommand
{
    public static Command Create(Stream output)
    {
        var options = new KernelContextOptions();
        var pid = new Argument<int?>("pid") { Description = "the task (default: the task that panicked)", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all", "-a") { Description = "the task running on every CPU" };
        var regs = new Option<bool>("--regs", "-r") { Description = "print the registers saved at each exception or interrupt frame" };
        var raw = new Option<bool>("--raw") { Description = "also print the raw stack words from the first frame to the last, with symbols" };
        var command = new Command("bt", "backtrace a task from the ORC unwind tables in the dump (no vmlinux needed)");
        options.AddTo(command);
        command.Arguments.Add(pid);
        command.Options.Add(all);
        command.Options.Add(regs);
        command.Options.Add(raw);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            TaskList tasks = TaskList.Read(context);
            var stacks = new KernelStacks(context);
            var selected = new List<KernelTask>();
            if (parse.GetValue(all))
            {
                for (int cpu = 0; cpu < context.CpuCount; cpu++)
                    if (tasks.RunningOn(cpu) is KernelTask t)
                        selected.Add(t);
            }
            else if (parse.GetValue(pid) is int wanted)
                selected.Add(tasks.FindPid(wanted) ?? throw new KernelDataException($"no task with PID {wanted} in the dump"));
            else
                selected.Add(CrashSite.Find(context, tasks)?.Task ?? throw new KernelDataException("cannot tell which task panicked: give a PID"));
            using StreamWriter w = AnalyzerCli.Text(output);
            foreach (KernelTask task in selected)
            {
                Write(w, context, stacks, task, parse.GetValue(regs), parse.GetValue(raw));
                w.WriteLine();
            }
            return ExitCodes.Success;
        });
        return command;
    }

    internal static void Write(TextWriter w, KernelContext context, KernelStacks stacks, KernelTask task, bool regs, bool raw)
    {
        string cpu = task.RunningOnCpu is int c ? $"{c}" : $"{task.Cpu}";
        w.WriteLine($"PID: {task.Pid,-7} TASK: {task.Address:x16}  CPU: {cpu,-3} COMMAND: \"{task.Comm}\"");
        Backtrace bt = stacks.Unwind(task);
        for (int i = 0; i < bt.Frames.Count; i++)
        {
            StackFrame f = bt.Frames[i];
            string module = stacks.ModuleOf(f.Ip) is string name ? $" [{name}]" : "";
            w.WriteLine($" #{i,-2} [{f.Sp:x16}] {f.Symbol?.ToString() ?? "?"}{module} at {f.Ip:x16}");
            if (f.Registers is X86Registers r && (regs || r.IsUserMode))
                WriteRegisters(w, r, f.FullRegisters);
        }
        if (bt.StopReason is string why)
            w.WriteLine($"    (backtrace stopped: {why})");
        if (raw && bt.Frames.Count > 0)
            WriteRawStack(w, context, stacks, bt.Frames[0].Sp, bt.Frames[^1].Sp);
    }

    private static void WriteRegisters(TextWriter w, X86Registers r, bool full)
    {
        if (!full)
        {
            w.WriteLine($"    RIP: {r.Rip:x16}  RSP: {r.Rsp:x16}  (iret frame)");
            return;
        }
        for (int i = 0; i < X86Registers.Count; i += 3)
        {
            var parts = new List<string>();
            for (int j = i; j < Math.Min(i + 3, X86Registers.Count); j++)
                parts.Add($"{X86Registers.Names[j].ToUpperInvariant(),8}: {r[j]:x16}");
            w.WriteLine("   " + string.Join(" ", parts));
        }
    }

    /// <summary>Stack words between two stack pointers (capped at 8 KiB), each annotated with the symbol it points into.</summary>
    private static void WriteRawStack(TextWriter w, KernelContext context, KernelStacks stacks, ulong from, ulong to)
    {
        ulong end = Math.Min(Math.Max(to + 64, from + 1024), from + 8192);
        w.WriteLine("    raw stack:");
        for (ulong at = from & ~7UL; at < end; at += 8)
        {
            string value;
            try
            {
                ulong word = context.Dump.Virtual.ReadUInt64(at);
                string? symbol = stacks.Symbol(word)?.ToString();
                value = $"{word:x16}{(symbol is null || word < 0xffff_0000_0000_0000 ? "" : "  " + symbol)}";
            }
            catch (MemoryFaultException e)
            {
                w.WriteLine($"    {at:x16}: {e.Message}");
                return;
            }
            w.WriteLine($"    {at:x16}: {value}");
        }
    }
}
