using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using KdumpSharp.Kexec;
using KdumpSharp.Memory;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.VmTests.Kexec;

/// <summary>
/// kexec-tools as the oracle for the classic path's memory decisions. The harness's crash dumps
/// were armed by Debian's kexec (kexec_load) in a real guest; the serial console holds the first
/// kernel's e820 map, its crash region, the crash kernel's command line (elfcorehdr=) and the
/// e820 map kexec-tools built for the crash kernel, and vmcore.elf holds the PT_LOADs of the
/// core header kexec-tools wrote. Our E820Map and dump ranges, fed the same inputs, must agree —
/// except for kexec-tools' 640 KiB backup region, which we deliberately do not use (docs/kexec.md).
/// </summary>
[TestFixtureSource(typeof(TestKernel), nameof(TestKernel.All))]
public sealed partial class KexecToolsOracleTests(TestKernel kernel)
{
    private TestDumpSet _dumps = null!;
    private List<(ulong Start, ulong End, string Type)> _firstKernelE820 = null!;
    private List<(ulong Start, ulong End, string Type)> _crashKernelE820 = null!;
    private PhysicalRange _crashRegion;
    private ulong _elfcorehdr;

    [GeneratedRegex(@"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.+)$")]
    private static partial Regex E820Line();

    /// <summary>6.1 (arch/x86/kernel/setup.c) prints "Reserving 112MB of memory at 80MB for crashkernel".</summary>
    [GeneratedRegex(@"Reserving (\d+)MB of memory at (\d+)MB for crashkernel")]
    private static partial Regex CrashReservation();

    /// <summary>6.12 (kernel/crash_reserve.c) prints "crashkernel reserved: 0x000000000c000000 - 0x0000000013000000 (112 MB)".</summary>
    [GeneratedRegex(@"crashkernel reserved: 0x([0-9a-f]+) - 0x([0-9a-f]+) ")]
    private static partial Regex CrashReserved();

    [GeneratedRegex(@"Command line: .* elfcorehdr=(\d+)K")]
    private static partial Regex CrashCommandLine();

    [OneTimeSetUp]
    public void ReadTheGuestConsole()
    {
        _dumps = TestDumps.Get(kernel);
        var boots = new List<List<(ulong, ulong, string)>>();
        foreach (string line in File.ReadLines(_dumps.ConsoleLog))
        {
            Match m = E820Line().Match(line);
            if (m.Success)
            {
                ulong start = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (start == 0)
                    boots.Add([]);
                boots[^1].Add((start, ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) + 1, m.Groups[3].Value.Trim()));
            }
            if (CrashReservation().Match(line) is { Success: true } r)
                _crashRegion = PhysicalRange.FromLength(ulong.Parse(r.Groups[2].Value, CultureInfo.InvariantCulture) << 20, ulong.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture) << 20);
            if (CrashReserved().Match(line) is { Success: true } n)
                _crashRegion = new PhysicalRange(new(ulong.Parse(n.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)),
                    new(ulong.Parse(n.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            if (CrashCommandLine().Match(line) is { Success: true } c)
                _elfcorehdr = ulong.Parse(c.Groups[1].Value, CultureInfo.InvariantCulture) << 10;
        }
        Assert.That(boots, Has.Count.EqualTo(2), "the console shows the first and the crash kernel's e820 maps");
        Assert.That(_crashRegion.IsEmpty, Is.False, "crash region reservation printed");
        Assert.That(_elfcorehdr, Is.Not.Zero, "kexec-tools passed elfcorehdr=");
        _firstKernelE820 = boots[0];
        _crashKernelE820 = boots[1];
    }

    /// <summary>/proc/iomem as the first kernel had it: its e820 ranges at the top, "Crash kernel" inside System RAM.</summary>
    private Iomem FirstKernelIomem()
    {
        var text = new StringBuilder();
        foreach ((ulong start, ulong end, string type) in _firstKernelE820)
        {
            string name = type switch
            {
                "usable" => "System RAM",
                "reserved" => "Reserved",
                "ACPI data" => "ACPI Tables",
                "ACPI NVS" => "ACPI Non-volatile Storage",
                _ => "Unknown E820 type",
            };
            text.Append(CultureInfo.InvariantCulture, $"{start:x8}-{end - 1:x8} : {name}\n");
            if (name == "System RAM" && start <= _crashRegion.Start.Value && _crashRegion.End.Value <= end)
                text.Append(CultureInfo.InvariantCulture, $"  {_crashRegion.Start.Value:x8}-{_crashRegion.End.Value - 1:x8} : Crash kernel\n");
        }
        return Iomem.Parse("first kernel", text.ToString());
    }

    private static E820Type TypeOf(string consoleType) => consoleType switch
    {
        "usable" => E820Type.Ram,
        "ACPI data" => E820Type.Acpi,
        "ACPI NVS" => E820Type.Nvs,
        _ => E820Type.Reserved,
    };

    [Test]
    public void Crash_kernel_memory_map_matches_kexec_tools_apart_from_its_backup_region()
    {
        Iomem iomem = FirstKernelIomem();
        // kexec-tools put a 640 KiB backup copy of low RAM right after the 16 KiB elfcorehdr
        // (top-down, kexec/arch/i386/crashdump-x86.c) and left both out of the map.
        var header = PhysicalRange.FromLength(_elfcorehdr, ElfCoreHeader.MinimumMemorySize);
        (ulong lowStart, ulong lowEnd, _) = _firstKernelE820.First(e => e.Type == "usable");
        ulong lowRam = lowEnd - Math.Max(lowStart, 0x1000);
        var backup = PhysicalRange.FromLength(header.End.Value, (lowRam + 1023) & ~1023UL);

        E820Map ours = E820Map.ForCrashKernel(iomem, iomem.Find("Crash kernel"), [header, backup]);

        // Reserved ranges above 4 GiB that the first kernel saw stay reserved; what kexec-tools
        // wrote is on the crash kernel's console.
        // A RAM remainder under a page (kexec-tools leaves one after its 1 KiB-aligned backup) is
        // dropped by us, as by the kernel's own crash_setup_memmap_entries.
        var expected = _crashKernelE820.Select(e => new E820Entry(new PhysicalRange(new(e.Start), new(e.End)), TypeOf(e.Type)))
            .Where(e => e.Type != E820Type.Ram || e.Range.Length >= 4096).ToList();
        var actual = ours.Entries.ToList();
        // The first kernel reports [0, 0x9fc00) as one usable range; the crash kernel's printout
        // splits off page 0, which 6.1 trims (e820__memblock_setup keeps page 0 reserved). Compare
        // from 0x1000 up, as the kernel saw it.
        if (expected[0].Range == new PhysicalRange(new(0), new(0x1000)))
            expected.RemoveAt(0);
        if (actual[0].Range.Start.Value == 0 && actual[0].Type == E820Type.Ram)
            actual[0] = actual[0] with { Range = new PhysicalRange(new(0x1000), actual[0].Range.End) };
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Dump_ranges_and_direct_map_match_the_core_header_kexec_tools_wrote()
    {
        Iomem iomem = FirstKernelIomem();
        IReadOnlyList<PhysicalRange> ours = CrashDumpDescription.DumpRangesOf(iomem, iomem.Find("Crash kernel"));

        byte[] head = new byte[64 + 64 * 56];
        using (var f = File.OpenRead(_dumps.ElfVmcore))
            f.ReadExactly(head);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(56));
        var loads = new List<(ulong Vaddr, ulong Paddr, ulong Size)>();
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> ph = head.AsSpan(64 + i * 56, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) == 1)
                loads.Add((BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]), BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]), BinaryPrimitives.ReadUInt64LittleEndian(ph[40..])));
        }
        // The first PT_LOAD is the kernel text (vaddr in the __START_KERNEL_map window); the rest is RAM.
        Assert.That(loads[0].Vaddr, Is.GreaterThanOrEqualTo(KernelTextMapping.StartKernelMap));
        var ram = loads.Skip(1).ToList();
        ulong directMap = ram[0].Vaddr - ram[0].Paddr;
        Assert.That(directMap % (1UL << 30), Is.Zero, "direct-map base is 1 GiB aligned, as DirectMap assumes");
        Assert.That(ram.All(l => l.Vaddr - l.Paddr == directMap), Is.True, "every RAM load is at direct-map base + paddr");
        // kexec-tools dumps the low 640 KiB from its backup copy; we leave [0, 1 MiB) out, as 6.1's kexec_file does.
        var theirs = ram.Select(l => PhysicalRange.FromLength(l.Paddr, l.Size)).Where(r => r.Start.Value >= E820Map.LowMemoryEnd).ToList();
        Assert.That(ours, Is.EqualTo(theirs));
        TestContext.Out.WriteLine($"{kernel}: {ours.Count} RAM ranges, direct map 0x{directMap:x}, text 0x{loads[0].Vaddr:x} @ 0x{loads[0].Paddr:x}");
    }
}
