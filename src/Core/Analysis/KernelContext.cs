using KdumpSharp.Btf;
using KdumpSharp.Kernel;
using KdumpSharp.Symbols;

namespace KdumpSharp.Analysis;

/// <summary>
/// What the dump says about its own kernel without any debuginfo: symbols (kallsyms, or a
/// System.map given by the user) and types (the vmlinux BTF in the kernel image), built on first
/// use over a <see cref="KernelDump"/>, plus the per-CPU and member-offset arithmetic every
/// kernel-structure walk needs.
/// </summary>
public sealed class KernelContext
{
    /// <summary>Larger than any vmlinux BTF (Debian 6.1: about 5 MiB).</summary>
    public const ulong MaxBtfBytes = 64 << 20;

    private readonly Dictionary<(string, string), ulong> _offsets = new();
    private SymbolTable? _symbols;
    private BtfTypes? _types;
    private ulong[]? _perCpuOffsets;

    public KernelContext(KernelDump dump, SymbolTable? symbolOverride = null)
    {
        Dump = dump;
        _symbols = symbolOverride;
    }

    public KernelDump Dump { get; }

    /// <summary>The kernel's symbols: kallsyms decoded from the dump (Linux 6.0+), unless overridden.</summary>
    public SymbolTable Symbols => _symbols ??= KallsymsReader.Read(Dump.Virtual,
        KallsymsLocation.FromVmcoreinfo(Dump.Vmcoreinfo)
        ?? throw new KernelDataException("the dump's VMCOREINFO has no kallsyms tables (kernel older than 6.0?): give a System.map with --system-map"));

    /// <summary>The kernel's types: the BTF between __start_BTF and __stop_BTF (include/asm-generic/vmlinux.lds.h).</summary>
    public BtfTypes Types => _types ??= ReadBtf();

    private BtfTypes ReadBtf()
    {
        ulong start = Symbols.Address("__start_BTF") ?? throw new KernelDataException($"no __start_BTF in {Symbols.Source}: the kernel was built without CONFIG_DEBUG_INFO_BTF");
        ulong stop = Symbols.RequireAddress("__stop_BTF");
        if (stop <= start || stop - start > MaxBtfBytes)
            throw new KernelDataException($"__start_BTF 0x{start:x} .. __stop_BTF 0x{stop:x} is not a plausible BTF section");
        byte[] blob = new byte[stop - start];
        Dump.Virtual.Read(start, blob);
        return BtfTypes.Parse(blob);
    }

    /// <summary>The byte offset of a member (dotted path through nested members, anonymous ones searched) of a struct or union.</summary>
    public ulong Offset(string structName, string memberPath)
    {
        if (_offsets.TryGetValue((structName, memberPath), out ulong cached))
            return cached;
        BtfType type = Types.Find(structName, BtfKind.Struct) ?? Types.Find(structName, BtfKind.Union)
            ?? throw new KernelDataException($"the kernel's BTF has no struct {structName}");
        ulong bits = 0;
        foreach (string part in memberPath.Split('.'))
        {
            (BtfMember member, ulong bitOffset) = Types.FindMember(type, part)
                ?? throw new KernelDataException($"struct {structName} has no member {memberPath} in the kernel's BTF");
            bits += bitOffset;
            type = Types.Resolve(member.Type);
        }
        _offsets[(structName, memberPath)] = bits / 8;
        return bits / 8;
    }

    /// <summary>True if the struct has the member (kernel-version differences are handled by probing, as drgn's helpers do).</summary>
    public bool HasMember(string structName, string member) =>
        (Types.Find(structName, BtfKind.Struct) ?? Types.Find(structName, BtfKind.Union)) is BtfType t && Types.FindMember(t, member) is not null;

    public ulong SizeOf(string structName) =>
        Types.SizeOf((uint)(Types.Find(structName, BtfKind.Struct) ?? throw new KernelDataException($"the kernel's BTF has no struct {structName}")).Id);

    /// <summary>Possible CPUs: nr_cpu_ids (kernel/smp.c), capped by the __per_cpu_offset array's NR_CPUS.</summary>
    public int CpuCount => PerCpuOffsets.Length;

    private ulong[] PerCpuOffsets => _perCpuOffsets ??= ReadPerCpuOffsets();

    private ulong[] ReadPerCpuOffsets()
    {
        uint count = Dump.Virtual.ReadUInt32(Symbols.RequireAddress("nr_cpu_ids"));
        if (count == 0 || count > 8192)
            throw new KernelDataException($"nr_cpu_ids is {count}, not a plausible CPU count");
        ulong array = Symbols.RequireAddress("__per_cpu_offset");
        var offsets = new ulong[count];
        for (int i = 0; i < count; i++)
            offsets[i] = Dump.Virtual.ReadUInt64(array + (ulong)i * 8);
        return offsets;
    }

    /// <summary>The address of CPU <paramref name="cpu"/>'s copy of a per-CPU variable (per_cpu_ptr: symbol + __per_cpu_offset[cpu]).</summary>
    public ulong PerCpu(ulong symbolAddress, int cpu) =>
        cpu >= 0 && cpu < PerCpuOffsets.Length ? symbolAddress + PerCpuOffsets[cpu] : throw new KernelDataException($"CPU {cpu} is not below nr_cpu_ids {PerCpuOffsets.Length}");

    /// <summary>Reads a NUL-terminated string of at most <paramref name="max"/> bytes.</summary>
    public string ReadString(ulong address, int max)
    {
        byte[] bytes = new byte[max];
        Dump.Virtual.Read(address, bytes);
        int nul = Array.IndexOf(bytes, (byte)0);
        return System.Text.Encoding.UTF8.GetString(bytes, 0, nul >= 0 ? nul : max);
    }

    /// <summary>Reads a System.map and relocates it by the dump's KASLR offset.</summary>
    public static SymbolTable LoadSystemMap(string path, KernelDump dump)
    {
        using var reader = new StreamReader(path);
        return SymbolTable.FromSystemMap(reader, path, dump.Vmcoreinfo.KernelOffset ?? 0);
    }
}
