using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Analysis;
using KdumpSharp.Btf;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;
using KdumpSharp.Symbols;

namespace KdumpSharp.Modules;

/// <summary>
/// The crashed kernel's modules, from the <c>modules</c> list (kernel/module/main.c) through
/// <c>struct module.list</c>, with offsets from BTF. Memory: up to 6.3 <c>core_layout.base/size</c>;
/// from 6.4 the <c>mem[]</c> array of <c>struct module_memory</c> indexed by <c>enum mod_mem_type</c>
/// (MOD_TEXT, MOD_DATA, MOD_RODATA, MOD_RO_AFTER_INIT are the core parts). Symbols: the module's
/// <c>kallsyms</c> (<c>struct mod_kallsyms</c>: Elf64_Sym symtab, num_symtab, strtab, and typetab with
/// one nm letter per symbol since 5.2; kernel/module/kallsyms.c).
/// </summary>
public static class ModuleList
{
    /// <summary>More than any system loads; a longer list is corrupt.</summary>
    public const int MaxModules = 65_536;

    /// <summary>Elf64_Sym is 24 bytes: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64.</summary>
    private const int Elf64SymSize = 24;

    private const int MaxModuleSymbols = 1 << 20;

    public static (IReadOnlyList<LoadedModule> Modules, IReadOnlyList<string> Problems) Read(KernelContext kernel, bool withSymbols)
    {
        VirtualMemory memory = kernel.Dump.Virtual;
        ulong head = kernel.Symbols.RequireAddress("modules");
        ulong listOffset = kernel.Offset("module", "list");
        var modules = new List<LoadedModule>();
        var problems = new List<string>();
        var seen = new HashSet<ulong> { head };
        ulong node = head;
        try
        {
            while ((node = memory.ReadUInt64(node)) != head)
            {
                if (!seen.Add(node) || modules.Count >= MaxModules || node == 0)
                {
                    problems.Add($"the modules list does not lead back to its head (at 0x{node:x})");
                    break;
                }
                modules.Add(ReadModule(kernel, node - listOffset, withSymbols));
            }
        }
        catch (MemoryFaultException e)
        {
            problems.Add($"modules list: {e.Message}; {modules.Count} modules read");
        }
        return (modules, problems);
    }

    private static LoadedModule ReadModule(KernelContext kernel, ulong module, bool withSymbols)
    {
        VirtualMemory memory = kernel.Dump.Virtual;
        string name = kernel.ReadString(module + kernel.Offset("module", "name"), 56);
        ulong baseAddress, size = 0;
        if (kernel.HasMember("module", "core_layout"))
        {
            baseAddress = memory.ReadUInt64(module + kernel.Offset("module", "core_layout.base"));
            size = memory.ReadUInt32(module + kernel.Offset("module", "core_layout.size"));
        }
        else
        {
            ulong mem = module + kernel.Offset("module", "mem");
            ulong stride = kernel.SizeOf("module_memory");
            ulong baseOffset = kernel.Offset("module_memory", "base");
            ulong sizeOffset = kernel.Offset("module_memory", "size");
            long text = kernel.Types.EnumeratorValue("MOD_TEXT") ?? 0;
            baseAddress = memory.ReadUInt64(mem + (ulong)text * stride + baseOffset);
            foreach (string part in new[] { "MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT" })
                if (kernel.Types.EnumeratorValue(part) is long index and >= 0 and < 16)
                    size += memory.ReadUInt32(mem + (ulong)index * stride + sizeOffset);
        }
        if (!withSymbols)
            return new LoadedModule(module, name, baseAddress, size, null, null);
        try
        {
            return new LoadedModule(module, name, baseAddress, size, ReadSymbols(kernel, module), null);
        }
        catch (Exception e) when (e is MemoryFaultException or KernelDataException)
        {
            return new LoadedModule(module, name, baseAddress, size, null, e.Message);
        }
    }

    private static List<KernelSymbol> ReadSymbols(KernelContext kernel, ulong module)
    {
        VirtualMemory memory = kernel.Dump.Virtual;
        ulong kallsyms = memory.ReadUInt64(module + kernel.Offset("module", "kallsyms"));
        if (kallsyms == 0)
            return [];
        ulong symtab = memory.ReadUInt64(kallsyms + kernel.Offset("mod_kallsyms", "symtab"));
        uint count = memory.ReadUInt32(kallsyms + kernel.Offset("mod_kallsyms", "num_symtab"));
        ulong strtab = memory.ReadUInt64(kallsyms + kernel.Offset("mod_kallsyms", "strtab"));
        ulong typetab = memory.ReadUInt64(kallsyms + kernel.Offset("mod_kallsyms", "typetab"));
        if (count > MaxModuleSymbols)
            throw new KernelDataException($"module kallsyms claims {count} symbols");
        byte[] table = new byte[count * Elf64SymSize];
        memory.Read(symtab, table);
        byte[] types = new byte[count];
        memory.Read(typetab, types);
        var symbols = new List<KernelSymbol>();
        var name = new byte[128];
        for (int i = 1; i < count; i++)
        {
            ReadOnlySpan<byte> sym = table.AsSpan(i * Elf64SymSize, Elf64SymSize);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(sym[8..]);
            uint nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(sym);
            if (value == 0 || nameOffset == 0)
                continue;
            memory.Read(strtab + nameOffset, name, zeroFill: true);
            int nul = Array.IndexOf(name, (byte)0);
            string text = Encoding.UTF8.GetString(name, 0, nul >= 0 ? nul : name.Length);
            if (text.Length > 0)
                symbols.Add(new KernelSymbol(text, value, (char)types[i]));
        }
        return symbols;
    }
}
