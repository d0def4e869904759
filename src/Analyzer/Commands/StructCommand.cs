using System.CommandLine;
using KdumpSharp.Analysis;
using KdumpSharp.Btf;
using KdumpSharp.Kernel;

namespace KdumpSharp.Analyzer.Commands;

/// <summary><c>struct DUMP TYPE [ADDRESS]</c>: a type's layout from the dump's BTF, or an instance's member values, like crash's struct.</summary>
internal static class StructCommand
{
    public static Command Create(Stream output)
    {
        var options = new KernelContextOptions();
        var type = new Argument<string>("type") { Description = "a type name: task_struct, \"struct list_head\", a typedef..." };
        var address = new Argument<string?>("address") { Description = "kernel virtual address of an instance (hex), or a symbol name", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("struct", "show a type's layout (offsets, sizes) from the kernel's own BTF, or the member values of one instance");
        options.AddTo(command);
        command.Arguments.Add(type);
        command.Arguments.Add(address);
        command.SetAction(parse =>
        {
            KernelContext context = options.Open(parse);
            using KernelDump dump = context.Dump;
            string typeName = parse.GetValue(type)!;
            BtfType found = context.Types.FindByCName(typeName)
                ?? throw new KernelDataException($"no type named {typeName} in the kernel's BTF");
            BtfType resolved = context.Types.Resolve((uint)found.Id);
            var formatter = new BtfFormatter(context.Types);
            using StreamWriter w = AnalyzerCli.Text(output);
            string? where = parse.GetValue(address);
            if (where is null)
            {
                if (resolved.Kind is not (BtfKind.Struct or BtfKind.Union))
                {
                    w.WriteLine($"{context.Types.TypeName((uint)found.Id)}: {resolved.Kind}, SIZE: {context.Types.SizeOf((uint)found.Id)}");
                    return ExitCodes.Success;
                }
                foreach (string line in formatter.Layout(resolved))
                    w.WriteLine(line);
                return ExitCodes.Success;
            }
            ulong at = context.Symbols.Find(where) is { } symbol ? symbol.Address : RdCommand.ParseAddress(where, "address");
            ulong size = context.Types.SizeOf((uint)found.Id);
            if (size == 0 || size > 1 << 20)
                throw new KernelDataException($"{typeName} has size {size}: nothing sensible to read");
            byte[] bytes = new byte[size];
            dump.Virtual.Read(at, bytes);
            IReadOnlyList<string> lines = resolved.Kind is BtfKind.Struct or BtfKind.Union
                ? formatter.Values(resolved, bytes, at)
                : [$"{context.Types.TypeName((uint)found.Id)} at 0x{at:x} = {formatter.Scalar((uint)found.Id, bytes, 0, 0)}"];
            foreach (string line in lines)
                w.WriteLine(line);
            return ExitCodes.Success;
        });
        return command;
    }
}
