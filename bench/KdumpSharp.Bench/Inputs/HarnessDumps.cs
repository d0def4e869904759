using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench.Inputs;

/// <summary>
/// The default dumps: the VM harness's (<see cref="TestDumps"/>) for each test kernel, made under
/// QEMU on first use and cached under /var/cache/kdumpsharp-test/dumps/, plus one guest with
/// gigabytes of RAM.
/// </summary>
internal static class HarnessDumps
{
    /// <summary>The ELF vmcore, makedumpfile's zlib kdump-compressed file and its flattened stream, per kernel.</summary>
    public static IEnumerable<BenchDump> Standard(Action<string> progress)
    {
        foreach (TestKernel kernel in TestKernel.All)
        {
            TestDumpSet set = Get(kernel, DumpGuest.Default, progress);
            yield return Describe(set, set.ElfVmcore, "ELF");
            foreach (DerivedDump derived in new[] { set.KdumpZlib, set.Flattened })
            {
                if (derived.Path is null)
                    progress($"{kernel.Release}: no {derived.Variant} file: makedumpfile failed ({derived.RequestedFailure})");
                else
                    yield return Describe(set, derived.Path, derived.Variant == DumpVariant.Flattened ? "flattened (zlib)" : "kdump-compressed (zlib)");
            }
        }
    }

    /// <summary>The ELF vmcore of a Debian 6.1 guest with <paramref name="memoryMiB"/> of RAM.</summary>
    public static BenchDump Big(int memoryMiB, Action<string> progress)
    {
        TestDumpSet set = Get(TestKernel.Debian61, new DumpGuest { MemoryMiB = memoryMiB }, progress);
        return Describe(set, set.ElfVmcore, $"ELF, {memoryMiB / 1024.0:0.#} GiB guest");
    }

    private static TestDumpSet Get(TestKernel kernel, DumpGuest guest, Action<string> progress)
    {
        string directory = TestDumps.DirectoryFor(kernel, guest);
        if (!File.Exists(Path.Combine(directory, "manifest.json")))
            progress($"making {kernel.Release} dumps of a {guest.MemoryMiB} MiB guest with the VM harness "
                + $"(QEMU {QemuMachine.Accelerator}; minutes, more for bigger guests) into {directory}");
        return TestDumps.Get(kernel, guest);
    }

    private static BenchDump Describe(TestDumpSet set, string path, string variant) =>
        BenchDump.Describe(path, $"{set.KernelRelease} {variant}") with
        {
            Vmlinuz = set.Kernel.Vmlinuz,
            Origin = $"VM harness, {set.Manifest.Guest.MemoryMiB} MiB guest, QEMU {set.Manifest.Accelerator}",
        };
}
