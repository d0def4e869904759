using System.Collections;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace KdumpSharp.Bench.Measurement;

/// <summary>A program and its arguments, with standard input from a file (or /dev/null).</summary>
internal sealed record CommandLine(string Executable, IReadOnlyList<string> Arguments)
{
    public string StandardInput { get; init; } = "/dev/null";

    public override string ToString()
    {
        var text = new StringBuilder(Executable);
        foreach (string argument in Arguments)
            text.Append(' ').Append(argument.Contains(' ') ? $"'{argument}'" : argument);
        if (StandardInput != "/dev/null")
            text.Append(" < ").Append(StandardInput);
        return text.ToString();
    }
}

/// <summary>What one run cost, as wait4 reported it for the child.</summary>
/// <param name="ExitCode">The exit status, or null when a signal ended the program.</param>
/// <param name="Signal">The signal that ended it, or null.</param>
/// <param name="WallSeconds">From just before posix_spawn to wait4's return.</param>
/// <param name="BytesReadFromDisk">ru_inblock × 512: what the child made the kernel read from the block device.</param>
/// <param name="PeakRssKiB">The child's own peak resident set, when measured through GNU time (<see cref="MeasuredProcess.RunForPeakRss"/>); else null.</param>
/// <param name="StandardError">The child's stderr, at most <see cref="MeasuredProcess.StandardErrorLimit"/> bytes.</param>
internal sealed record RunResult(int? ExitCode, int? Signal, double WallSeconds, double UserSeconds, double SystemSeconds,
    long BytesReadFromDisk, long? PeakRssKiB, string StandardError)
{
    public double CpuSeconds => UserSeconds + SystemSeconds;

    public bool Succeeded => ExitCode == 0;

    public string DescribeFailure()
    {
        string how = Signal is int s ? $"killed by signal {s}" : $"exit {ExitCode}";
        string? line = StandardError.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0);
        return line is null ? $"{how}, nothing on stderr" : $"{how}: {line}";
    }
}

/// <summary>
/// Runs a program with posix_spawn and reaps it with wait4, so wall time, CPU time and blocks read
/// are the child's own (System.Diagnostics.Process cannot return rusage). Standard output goes to
/// /dev/null, standard error to a file that is read back for failure messages.
/// </summary>
/// <remarks>
/// <para>Peak RSS cannot come from this wait4: exec records the old address space's high-water
/// mark in the process's maxrss (exec_mmap in fs/exec.c), and posix_spawn's child execs on the
/// bench's own address space (CLONE_VM), so every tool would report at least this ~50 MiB .NET
/// process. <see cref="RunForPeakRss"/> goes through GNU time instead, whose fork()ed child execs
/// from time's own small address space.</para>
/// <para>The .NET runtime's SIGCHLD handler reaps only the children Process started (all children
/// only when SIGCHLD was ignored at startup, which is not the case here), so it never takes these.</para>
/// </remarks>
internal static unsafe class MeasuredProcess
{
    public const int StandardErrorLimit = 64 << 10;

    public static RunResult Run(CommandLine command, string standardErrorPath)
    {
        // Every native block is allocated with NativeMemory and freed in the outer finally.
        var allocations = new List<nint>();
        byte* Utf8(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            var p = (byte*)NativeMemory.AllocZeroed((nuint)bytes.Length + 1);
            allocations.Add((nint)p);
            bytes.CopyTo(new Span<byte>(p, bytes.Length));
            return p;
        }
        byte** Vector(IReadOnlyList<string> items)
        {
            var vector = (byte**)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(nint));
            allocations.Add((nint)vector);
            for (int i = 0; i < items.Count; i++)
                vector[i] = Utf8(items[i]);
            return vector;
        }

        void* actions = NativeMemory.AllocZeroed(LibC.FileActionsBytes);
        try
        {
            Check(LibC.FileActionsInit(actions), "posix_spawn_file_actions_init");
            try
            {
                Check(LibC.FileActionsAddOpen(actions, 0, Utf8(command.StandardInput), LibC.O_RDONLY, 0), "addopen stdin");
                Check(LibC.FileActionsAddOpen(actions, 1, Utf8("/dev/null"), LibC.O_WRONLY, 0), "addopen stdout");
                Check(LibC.FileActionsAddOpen(actions, 2, Utf8(standardErrorPath), LibC.O_WRONLY | LibC.O_CREAT | LibC.O_TRUNC, 0x1a4 /* 0644 */), "addopen stderr");

                byte* path = Utf8(command.Executable);
                byte** argv = Vector([command.Executable, .. command.Arguments]);
                byte** envp = Vector(Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
                    .Select(e => $"{e.Key}={e.Value}").ToList());

                long start = Stopwatch.GetTimestamp();
                int error = LibC.PosixSpawn(out int pid, path, actions, null, argv, envp);
                if (error != 0)
                    throw new IOException($"cannot start {command.Executable}: {Marshal.GetPInvokeErrorMessage(error)}");

                int status;
                LibC.RUsage usage;
                while (LibC.Wait4(pid, out status, 0, out usage) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != LibC.EINTR)
                        throw new IOException($"wait4({pid}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;

                int signal = status & 0x7f;
                return new RunResult(
                    signal == 0 ? (status >> 8) & 0xff : null,
                    signal == 0 ? null : signal,
                    wall, usage.ru_utime.Seconds, usage.ru_stime.Seconds, usage.ru_inblock * 512, null,
                    ReadStandardError(standardErrorPath));
            }
            finally
            {
                LibC.FileActionsDestroy(actions);
            }
        }
        finally
        {
            NativeMemory.Free(actions);
            foreach (nint p in allocations)
                NativeMemory.Free((void*)p);
        }
    }

    /// <summary>GNU time; scripts/setup.sh installs it.</summary>
    public const string GnuTime = "/usr/bin/time";

    /// <summary>
    /// Runs the command under <c>/usr/bin/time -f %M</c> and returns the run with
    /// <see cref="RunResult.PeakRssKiB"/> set to the tool's ru_maxrss as time saw it. The run's
    /// times include time's own start-up, so only its RSS is used.
    /// </summary>
    public static RunResult RunForPeakRss(CommandLine command, string standardErrorPath, string timeOutputPath)
    {
        File.Delete(timeOutputPath);
        RunResult run = Run(new CommandLine(GnuTime, ["-f", "%M", "-o", timeOutputPath, command.Executable, .. command.Arguments])
            { StandardInput = command.StandardInput }, standardErrorPath);
        // time writes "Command exited with non-zero status N" before the format when the tool fails.
        string? last = File.Exists(timeOutputPath)
            ? File.ReadLines(timeOutputPath).LastOrDefault(l => l.Trim().Length > 0)
            : null;
        return run with { PeakRssKiB = long.TryParse(last, out long kib) ? kib : null };
    }

    private static string ReadStandardError(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        byte[] buffer = new byte[(int)Math.Min(file.Length, StandardErrorLimit)];
        file.Seek(-buffer.Length, SeekOrigin.End);
        file.ReadExactly(buffer);
        return Encoding.UTF8.GetString(buffer);
    }

    private static void Check(int error, string what)
    {
        if (error != 0)
            throw new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(error)}");
    }
}
