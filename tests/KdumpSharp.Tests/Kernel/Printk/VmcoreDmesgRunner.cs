using System.Buffers.Binary;
using System.Diagnostics;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Kernel.Printk;

/// <summary>
/// Runs the installed vmcore-dmesg (Debian 12: kexec-tools 2.0.25) on a minimal ELF64 vmcore holding
/// a test's kernel memory window, so formatter output can be compared with the real tool byte for byte.
/// The file has what vmcore-dmesg reads (util_lib/elf_info.c read_elf64, scan_notes,
/// vaddr_to_offset): one PT_NOTE with the VMCOREINFO note and one PT_LOAD mapping the window's
/// virtual addresses. (Kept private to these tests; the shared ElfCoreBuilder can replace it.)
/// </summary>
internal static class VmcoreDmesgRunner
{
    public const string ToolPath = "/usr/sbin/vmcore-dmesg";

    public static byte[] Run(KernelMemoryBuilder memory)
    {
        if (!File.Exists(ToolPath))
            Assert.Fail($"{ToolPath} is not installed; scripts/setup.sh installs kexec-tools");
        string path = Path.Combine(Path.GetTempPath(), $"kdumpsharp-vmcore-dmesg-{Guid.NewGuid():N}.elf");
        try
        {
            File.WriteAllBytes(path, BuildElf(memory.Vmcoreinfo.Bytes, memory.Snapshot(), KernelMemoryBuilder.VirtualBase, KernelMemoryBuilder.PhysicalBase));
            var start = new ProcessStartInfo(ToolPath, path)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using Process process = Process.Start(start)!;
            using var stdout = new MemoryStream();
            Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            string stderr = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(60_000))
            {
                process.Kill();
                Assert.Fail("vmcore-dmesg did not finish within 60 s");
            }
            copy.Wait();
            Assert.That(process.ExitCode, Is.Zero, $"vmcore-dmesg failed: {stderr}");
            return stdout.ToArray();
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] BuildElf(byte[] vmcoreinfo, byte[] window, ulong virtualBase, ulong physicalBase)
    {
        const int ehdrSize = 64, phdrSize = 56;
        byte[] name = "VMCOREINFO\0"u8.ToArray();
        int noteSize = 12 + Align4(name.Length) + Align4(vmcoreinfo.Length);
        int notesOffset = ehdrSize + 2 * phdrSize;
        int loadOffset = (notesOffset + noteSize + 4095) & ~4095;
        byte[] file = new byte[loadOffset + window.Length];
        Span<byte> f = file;

        "\u007fELF"u8.CopyTo(f);
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // ELFDATA2LSB
        f[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 4); // ET_CORE
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], 62); // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1); // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(f[32..], ehdrSize); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(f[52..], ehdrSize); // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(f[54..], phdrSize); // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(f[56..], 2); // e_phnum

        Span<byte> note = f[ehdrSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(note, 4); // PT_NOTE
        BinaryPrimitives.WriteUInt64LittleEndian(note[8..], (ulong)notesOffset); // p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(note[32..], (ulong)noteSize); // p_filesz
        BinaryPrimitives.WriteUInt64LittleEndian(note[40..], (ulong)noteSize); // p_memsz

        Span<byte> load = f[(ehdrSize + phdrSize)..];
        BinaryPrimitives.WriteUInt32LittleEndian(load, 1); // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(load[4..], 7); // RWX
        BinaryPrimitives.WriteUInt64LittleEndian(load[8..], (ulong)loadOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(load[16..], virtualBase);
        BinaryPrimitives.WriteUInt64LittleEndian(load[24..], physicalBase);
        BinaryPrimitives.WriteUInt64LittleEndian(load[32..], (ulong)window.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(load[40..], (ulong)window.Length);

        Span<byte> n = f[notesOffset..];
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(n[4..], (uint)vmcoreinfo.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(n[8..], 0); // n_type
        name.CopyTo(n[12..]);
        vmcoreinfo.CopyTo(n[(12 + Align4(name.Length))..]);

        window.CopyTo(f[loadOffset..]);
        return file;
    }

    private static int Align4(int n) => (n + 3) & ~3;
}
