using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Builders;

/// <summary>An <see cref="IDumpReader"/> over memory built in the test, with whatever notes the test gives it.</summary>
internal sealed class FakeDumpReader(PhysicalMemory memory, IReadOnlyList<ElfNote> notes, DumpProperties? properties = null) : IDumpReader
{
    public string Name => "fake";
    public DumpProperties Properties { get; } = properties ?? new DumpProperties { Format = DumpFormat.Elf };
    public IReadOnlyList<ElfNote> Notes { get; } = notes;
    public Vmcoreinfo? Vmcoreinfo { get; init; } = notes.FirstOrDefault(n => n.IsVmcoreinfo) is ElfNote n ? Vmcoreinfo.Parse(n.Descriptor.Span) : null;
    public PhysicalMemory Memory { get; } = memory;

    public static ElfNote VmcoreinfoNote(string text) => new("VMCOREINFO", ElfNote.NtVmcoreinfo, Encoding.ASCII.GetBytes(text));

    public static ElfNote PrStatusNote(int pid)
    {
        var prstatus = new byte[336];
        BitConverter.TryWriteBytes(prstatus.AsSpan(32), pid);
        return new ElfNote("CORE", ElfNote.NtPrStatus, prstatus);
    }

    public void Dispose() { }
}
