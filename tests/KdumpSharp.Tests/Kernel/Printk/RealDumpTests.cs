using System.Buffers.Binary;
using System.Text;
using KdumpSharp.Dumps;
using KdumpSharp.Kernel;
using KdumpSharp.Kernel.Panic;
using KdumpSharp.Kernel.Printk;
using KdumpSharp.Memory;

namespace KdumpSharp.Tests.Kernel.Printk;

/// <summary>
/// Dumps of real Debian kernels made by the VM harness (a sysrq crash captured by kdump) and cached
/// outside the repository, each with the output the installed vmcore-dmesg gave for its vmcore.elf.
/// Skipped when no dump is cached.
/// </summary>
public class RealDumpTests
{
    private const string CacheDirectory = "/var/cache/kdumpsharp-test/dumps";

    public static IEnumerable<TestCaseData> Dumps()
    {
        if (!Directory.Exists(CacheDirectory))
            yield break;
        foreach (string dir in Directory.GetDirectories(CacheDirectory).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(dir, "vmcore.elf")) && File.Exists(Path.Combine(dir, "dmesg.vmcore-dmesg.txt")))
                yield return new TestCaseData(dir).SetArgDisplayNames(Path.GetFileName(dir));
        }
    }

    private static void RequireDump(string? dir)
    {
        if (dir is null)
            Assert.Ignore($"no dumps with vmcore.elf and dmesg.vmcore-dmesg.txt under {CacheDirectory}");
    }

    [TestCaseSource(nameof(Dumps))]
    public void Log_prints_exactly_as_vmcore_dmesg_printed_it(string dir)
    {
        RequireDump(dir);
        using var dump = new PtLoadDump(Path.Combine(dir, "vmcore.elf"));

        KernelLog log = KernelLog.Read(dump.Virtual, dump.Vmcoreinfo, DumpLimits.Default);
        using var ours = new MemoryStream();
        DmesgFormatter.Write(ours, log.Records);

        Assert.That(log.Format, Is.EqualTo(KernelLogFormat.Lockless));
        Assert.That(log.Problems, Is.Empty);
        Assert.That(Encoding.Latin1.GetString(ours.ToArray()), Is.EqualTo(Encoding.Latin1.GetString(File.ReadAllBytes(Path.Combine(dir, "dmesg.vmcore-dmesg.txt")))));
    }

    [TestCaseSource(nameof(Dumps))]
    public void Sysrq_crash_is_reported_with_its_task(string dir)
    {
        RequireDump(dir);
        using var dump = new PtLoadDump(Path.Combine(dir, "vmcore.elf"));
        KernelLog log = KernelLog.Read(dump.Virtual, dump.Vmcoreinfo, DumpLimits.Default);
        UtsName uts = UtsName.Read(dump.Virtual, dump.Vmcoreinfo);

        PanicReport? report = PanicReport.Find(log.Records);

        // The harness crashes the guest from its init script: echo c > /proc/sysrq-trigger.
        Assert.That(report, Is.Not.Null);
        Assert.That(report!.Message.Text, Is.EqualTo("Kernel panic - not syncing: sysrq triggered crash"));
        Assert.That(report.Reason, Is.EqualTo(PanicReason.Sysrq));
        Assert.That(report.Cause?.Text, Is.EqualTo("sysrq: Trigger a crash"));
        Assert.That(report.Banner, Is.Not.Null);
        Assert.That((report.Banner!.Pid, report.Banner.Comm, report.Banner.KdumpLoaded, report.Banner.Taint), Is.EqualTo((1, "init", true, (string?)null)));
        Assert.That(report.Banner.Release, Is.EqualTo(uts.Release));
        Assert.That(uts.Release, Is.EqualTo(dump.Vmcoreinfo.OsRelease));
        Assert.That((uts.SysName, uts.Machine), Is.EqualTo(("Linux", "x86_64")));
    }

    /// <summary>
    /// Just enough of an ELF vmcore for these tests, read the way vmcore-dmesg reads it
    /// (util_lib/elf_info.c vaddr_to_offset): a virtual address is found in the PT_LOAD whose
    /// [p_vaddr, p_vaddr + p_memsz) holds it, no page tables. A stand-in until Core's ELF reader
    /// and page-table walker are merged.
    /// </summary>
    private sealed class PtLoadDump : IDisposable
    {
        private readonly FileStream _file;
        private readonly List<(ulong Vaddr, ulong Paddr, long Offset, ulong Size)> _loads = new();

        public PtLoadDump(string path)
        {
            _file = File.OpenRead(path);
            Span<byte> ehdr = stackalloc byte[64];
            RandomAccess.Read(_file.SafeFileHandle, ehdr, 0);
            ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(ehdr[32..]);
            ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(ehdr[56..]);
            byte[] phdrs = new byte[phnum * 56];
            RandomAccess.Read(_file.SafeFileHandle, phdrs, (long)phoff);
            Vmcoreinfo? vmcoreinfo = null;
            for (int i = 0; i < phnum; i++)
            {
                ReadOnlySpan<byte> p = phdrs.AsSpan(i * 56, 56);
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(p);
                long offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(p[8..]);
                ulong size = BinaryPrimitives.ReadUInt64LittleEndian(p[32..]);
                if (type == 1)
                {
                    _loads.Add((BinaryPrimitives.ReadUInt64LittleEndian(p[16..]), BinaryPrimitives.ReadUInt64LittleEndian(p[24..]), offset, size));
                }
                else if (type == 4)
                {
                    byte[] notes = new byte[size];
                    RandomAccess.Read(_file.SafeFileHandle, notes, offset);
                    ElfNote? note = ElfNote.ParseAll(notes, path, offset, DumpLimits.Default).FirstOrDefault(n => n.IsVmcoreinfo);
                    if (note is not null)
                        vmcoreinfo = Vmcoreinfo.Parse(note.Descriptor.Span);
                }
            }
            Vmcoreinfo = vmcoreinfo ?? throw new InvalidDataException($"{path} has no VMCOREINFO note");
            Virtual = new Window(new Ram(this), _loads);
        }

        public Vmcoreinfo Vmcoreinfo { get; }
        public VirtualMemory Virtual { get; }

        public void Dispose() => _file.Dispose();

        private sealed class Ram(PtLoadDump dump) : PhysicalMemory
        {
            public override IReadOnlyList<PhysicalRange> Ranges { get; } =
                dump._loads.Select(l => PhysicalRange.FromLength(l.Paddr, l.Size)).OrderBy(r => r.Start).ToList();

            public override PageState ReadPage(PageFrameNumber frame, Span<byte> destination)
            {
                destination.Clear();
                var page = PhysicalRange.FromLength(frame.Address.Value, PageFrameNumber.PageSize);
                bool found = false;
                foreach ((_, ulong paddr, long offset, ulong size) in dump._loads)
                {
                    var load = PhysicalRange.FromLength(paddr, size);
                    if (!load.Overlaps(page))
                        continue;
                    ulong from = Math.Max(paddr, page.Start.Value);
                    ulong to = Math.Min(load.End.Value, page.End.Value);
                    RandomAccess.Read(dump._file.SafeFileHandle, destination.Slice((int)(from - page.Start.Value), (int)(to - from)), offset + (long)(from - paddr));
                    found = true;
                }
                return found ? PageState.Present : PageState.NotInDump;
            }
        }

        private sealed class Window(PhysicalMemory physical, List<(ulong Vaddr, ulong Paddr, long Offset, ulong Size)> loads) : VirtualMemory(physical)
        {
            public override bool TryTranslate(ulong address, out PhysicalAddress physicalAddress, out ulong contiguousBytes)
            {
                foreach ((ulong vaddr, ulong paddr, _, ulong size) in loads)
                {
                    if (address >= vaddr && address - vaddr < size)
                    {
                        physicalAddress = new PhysicalAddress(paddr + (address - vaddr));
                        contiguousBytes = size - (address - vaddr);
                        return true;
                    }
                }
                physicalAddress = default;
                contiguousBytes = 0;
                return false;
            }
        }
    }
}
