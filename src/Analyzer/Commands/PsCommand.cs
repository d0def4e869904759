using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Tasks;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>ps DUMP</c>: every task with PID, PPID, CPU, state and command, the running ones marked, like crash's ps.</summary>
internal static class PsCommand
{
    public static Command Create(Stream output, TextWriter error)
    {
        var options = new KernelContextOptions();
        var command = new Command("ps", "list every task of the crashed kernel (\">\" marks the task running on each CPU), from the dump's kallsyms and BTF");
        options.AddTo(command);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            TaskList list = TaskList.Read(context);
            using StreamWriter w = AnalyzerCli.Text(output);
            w.WriteLine("   PID    PPID  CPU        TASK        ST  COMM");
            foreach (KernelTask t in list.Tasks)
                w.WriteLine(Line(t));
            foreach (string problem in list.Problems)
                error.WriteLine($"kds-analyzer: warning: {problem}");
            return ExitCodes.Success;
        });
        return command;
    }

    internal static string Line(KernelTask t)
    {
        string comm = t.IsKernelThread ? $"[{t.Comm}]" : t.Comm;
        return $"{(t.RunningOnCpu is null ? ' ' : '>')}{t.Pid,6} {t.ParentPid,7} {t.Cpu,4}  {t.Address:x16}  {t.StateName}  {comm}";
    }
}
