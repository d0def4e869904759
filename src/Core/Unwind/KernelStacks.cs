using System.Buffers.Binary;
using KdumpSharp.Analysis;
using KdumpSharp.Btf;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Modules;
using KdumpSharp.Symbols;
using KdumpSharp.Tasks;
using KdumpSharp.Text;

namespace KdumpSharp.Unwind;

/// <summary>
/// Backtraces of the crashed kernel's tasks from the ORC tables in the dump. A task that was
/// running starts from its CPU's NT_PRSTATUS registers (saved by crash_save_cpu(): the panicking
/// CPU's from crash_setup_regs() in __crash_kexec, the others' from the NMI that stopped them,
/// arch/x86/kernel/crash.c); a sleeping task from its switch frame: thread.sp points at
/// <c>struct inactive_task_frame</c> whose ret_addr is where it resumes, and the stack pointer after
/// it is thread.sp + sizeof(frame) (arch/x86/include/asm/switch_to.h, unwind_orc.c __unwind_start).
/// Addresses inside a module use the module's own symbols and ORC tables
/// (<c>mod->arch.orc_unwind_ip/orc_unwind/num_orcs</c>, arch/x86/include/asm/module.h).
/// </summary>
public sealed class KernelStacks
{
    /// <summary>elf_prstatus: pr_pid at 32, pr_reg at 112 (include/linux/elfcore.h, x86_64).</summary>
    private const int PrPid = 32;
    private const int PrReg = 112;

    private readonly KernelContext _kernel;
    private OrcTable? _orc;
    private OrcUnwinder? _unwinder;

    public KernelStacks(KernelContext kernel) => _kernel = kernel;

    public OrcTable Orc => _orc ??= ReadOrc();

    private OrcUnwinder Unwinder => _unwinder ??= new OrcUnwinder(FindOrc, Symbolize, _kernel.Dump.Virtual);

    private List<ModuleCode>? _modules;

    /// <summary>Problems met reading module symbols or ORC tables (their frames then show as "?").</summary>
    public List<string> ModuleProblems { get; } = [];

    /// <summary>A module's code range with its symbols and ORC table, either possibly missing.</summary>
    private sealed record ModuleCode(string Name, ulong Base, ulong Size, SymbolTable? Symbols, OrcTable? Orc);

    private List<ModuleCode> Modules => _modules ??= ReadModules();

    /// <summary>The module whose core memory holds <paramref name="ip"/>, by name.</summary>
    public string? ModuleOf(ulong ip) => Modules.FirstOrDefault(m => ip - m.Base < m.Size)?.Name;

    private OrcEntry? FindOrc(ulong ip) =>
        Modules.FirstOrDefault(m => ip - m.Base < m.Size) is ModuleCode m ? m.Orc?.Find(ip) : Orc.Find(ip);

    private SymbolOffset? Symbolize(ulong ip) =>
        Modules.FirstOrDefault(m => ip - m.Base < m.Size) is ModuleCode m ? m.Symbols?.Lookup(ip) : _kernel.Symbols.Lookup(ip);

    public SymbolOffset? Symbol(ulong ip) => Symbolize(ip);

    private List<ModuleCode> ReadModules()
    {
        var result = new List<ModuleCode>();
        IReadOnlyList<LoadedModule> modules;
        try
        {
            (modules, IReadOnlyList<string> problems) = ModuleList.Read(_kernel, withSymbols: true);
            ModuleProblems.AddRange(problems);
        }
        catch (Exception e) when (e is KernelDataException or MemoryFaultException)
        {
            ModuleProblems.Add($"modules: {e.Message}");
            return result;
        }
        foreach (LoadedModule m in modules)
        {
            SymbolTable? symbols = m.Symbols is { Count: > 0 } list ? new SymbolTable(list, $"kallsyms of module {m.Name}") : null;
            if (m.SymbolProblem is string why)
                ModuleProblems.Add($"symbols of module {m.Name}: {why}");
            OrcTable? orc = null;
            try
            {
                orc = ReadModuleOrc(m);
            }
            catch (Exception e) when (e is KernelDataException or MemoryFaultException)
            {
                ModuleProblems.Add($"ORC of module {m.Name}: {e.Message}");
            }
            result.Add(new ModuleCode(m.Name, m.Base, m.Size, symbols, orc));
        }
        return result;
    }

    private OrcTable? ReadModuleOrc(LoadedModule m)
    {
        if (!_kernel.HasMember("module", "arch"))
            return null;
        VirtualMemory memory = _kernel.Dump.Virtual;
        uint count = memory.ReadUInt32(m.Address + _kernel.Offset("module", "arch.num_orcs"));
        if (count == 0)
            return null;
        if (count > OrcTable.MaxEntries)
            throw new KernelDataException($"num_orcs is {count}");
        ulong ipTable = memory.ReadUInt64(m.Address + _kernel.Offset("module", "arch.orc_unwind_ip"));
        ulong entries = memory.ReadUInt64(m.Address + _kernel.Offset("module", "arch.orc_unwind"));
        byte[] ips = new byte[count * 4];
        byte[] orc = new byte[count * OrcEntry.Size];
        memory.Read(ipTable, ips);
        memory.Read(entries, orc);
        return OrcTable.Parse(ips, ipTable, orc, Orc.Format);
    }

    private OrcTable ReadOrc()
    {
        ulong ipStart = _kernel.Symbols.RequireAddress("__start_orc_unwind_ip");
        ulong ipStop = _kernel.Symbols.RequireAddress("__stop_orc_unwind_ip");
        ulong entries = _kernel.Symbols.RequireAddress("__start_orc_unwind");
        if (ipStop <= ipStart || (ipStop - ipStart) / 4 > OrcTable.MaxEntries)
            throw new KernelDataException($"__start_orc_unwind_ip 0x{ipStart:x} .. __stop_orc_unwind_ip 0x{ipStop:x} is not a plausible ORC table");
        int count = (int)((ipStop - ipStart) / 4);
        byte[] ips = new byte[count * 4];
        byte[] orc = new byte[count * OrcEntry.Size];
        _kernel.Dump.Virtual.Read(ipStart, ips);
        _kernel.Dump.Virtual.Read(entries, orc);
        return OrcTable.Parse(ips, ipStart, orc, DetectFormat());
    }

    private OrcFormat DetectFormat()
    {
        bool? hasEnd = null, hasSignal = null;
        try
        {
            if (_kernel.Types.Find("orc_entry", BtfKind.Struct) is BtfType entry)
            {
                hasEnd = _kernel.Types.FindMember(entry, "end") is not null;
                hasSignal = _kernel.Types.FindMember(entry, "signal") is not null;
            }
        }
        catch (KernelDataException)
        {
            // No usable BTF: fall back to the release number.
        }
        return OrcEntry.DetectFormat(hasEnd, hasSignal, _kernel.Dump.Vmcoreinfo.OsRelease);
    }

    /// <summary>The registers a backtrace of <paramref name="task"/> starts from, and where they came from.</summary>
    public (X86Registers Registers, string Origin) StartingRegisters(KernelTask task)
    {
        if (task.RunningOnCpu is int cpu)
            return RunningRegisters(task, cpu);
        ulong sp = _kernel.Dump.Virtual.ReadUInt64(task.Address + _kernel.Offset("task_struct", "thread.sp"));
        ulong frameSize = _kernel.SizeOf("inactive_task_frame");
        ulong ret = _kernel.Dump.Virtual.ReadUInt64(sp + _kernel.Offset("inactive_task_frame", "ret_addr"));
        ulong bp = _kernel.Dump.Virtual.ReadUInt64(sp + _kernel.Offset("inactive_task_frame", "bp"));
        return (X86Registers.FromFrame(ret, sp + frameSize, bp), $"switch frame at thread.sp 0x{sp:x}");
    }

    public Backtrace Unwind(KernelTask task)
    {
        X86Registers start;
        try
        {
            start = StartingRegisters(task).Registers;
        }
        catch (MemoryFaultException e)
        {
            return new Backtrace([], $"no starting registers: {e.Message}");
        }
        return Unwinder.Unwind(start);
    }

    /// <summary>
    /// A running task's registers: the NT_PRSTATUS note whose pr_pid is this task's PID when only
    /// one note has it (notes skip offline CPUs, so their order is not the CPU number); otherwise
    /// (idle tasks all have PID 0) the note the kernel wrote for this CPU in its per-CPU
    /// <c>crash_notes</c> buffer (kernel/crash_core.c), read from memory.
    /// </summary>
    private (X86Registers, string) RunningRegisters(KernelTask task, int cpu)
    {
        var notes = _kernel.Dump.Reader.Notes.Where(n => n.IsPrStatus && n.Descriptor.Length >= PrReg + X86Registers.PtRegsSize).ToList();
        var matching = notes.Where(n => BinaryPrimitives.ReadInt32LittleEndian(n.Descriptor.Span[PrPid..]) == task.Pid).ToList();
        if (matching.Count == 1)
            return (X86Registers.FromPtRegs(matching[0].Descriptor.Span[PrReg..]), $"NT_PRSTATUS note {notes.IndexOf(matching[0])} (pid {task.Pid})");
        if (_kernel.Symbols.Address("crash_notes") is ulong crashNotes)
        {
            ulong buffer = _kernel.PerCpu(_kernel.Dump.Virtual.ReadUInt64(crashNotes), cpu);
            // Elf64_Nhdr (12 bytes), then "CORE\0" padded to 8, then elf_prstatus.
            byte[] note = new byte[20 + PrReg + X86Registers.PtRegsSize];
            _kernel.Dump.Virtual.Read(buffer, note);
            if (BinaryPrimitives.ReadUInt32LittleEndian(note.AsSpan(8)) == ElfNote.NtPrStatus && note.AsSpan(12, 4).SequenceEqual("CORE"u8))
                return (X86Registers.FromPtRegs(note.AsSpan(20 + PrReg)), $"crash_notes of CPU {cpu}");
        }
        throw new KernelDataException($"no NT_PRSTATUS registers for CPU {cpu} (task {task.Pid} {OneLineText.Escape(task.Comm)}): the CPU did not save them at the crash");
    }
}
