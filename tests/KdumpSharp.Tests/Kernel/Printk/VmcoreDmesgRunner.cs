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
            // vmcore-dmesg finds the ring through PT_LOAD virtual addresses, so the window is one segment at its own.
            File.WriteAllBytes(path, new ElfCoreBuilder()
                .AddNote("VMCOREINFO", 0, memory.Vmcoreinfo.Bytes)
                .AddLoad(KernelMemoryBuilder.PhysicalBase, memory.Snapshot(), virtualAddress: KernelMemoryBuilder.VirtualBase)
                .Build());
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
}
