using System.Text;

namespace KdumpSharp.Kexec;

/// <summary>
/// Builds the new kernel's command line. Parameters are split as the kernel's next_arg
/// (lib/cmdline.c) splits them: on spaces, except inside double quotes, so
/// <c>dyndbg="file foo.c +p"</c> stays one parameter.
/// </summary>
public static class KernelCommandLine
{
    /// <summary>
    /// What a crash kernel adds (kernel Documentation/admin-guide/kdump/kdump.rst recommends the
    /// first three; the rest are what RHEL's kdump-utils appends on x86_64 and what still applies
    /// to a busybox-style capture initramfs with no systemd or udev):
    /// <list type="bullet">
    /// <item>irqpoll, reset_devices: devices keep the dead kernel's state and interrupts; poll and reset them.</item>
    /// <item>nr_cpus=1: one CPU, as every per-CPU area costs reserved memory.</item>
    /// <item>cgroup_disable=memory: memcg's per-page bookkeeping is a few MiB of the reservation.</item>
    /// <item>mce=off: a machine check during capture must not kill it (the crash may have been one).</item>
    /// <item>numa=off, acpi_no_memhotplug, hest_disable: no NUMA set-up, memory hotplug or APEI error tables for a one-shot kernel.</item>
    /// <item>transparent_hugepage=never, cma=0, hugetlb_cma=0: nothing carved out of the small region.</item>
    /// <item>pcie_ports=compat: no PCIe port services (AER, hotplug, PME) that trip over devices the dead kernel left busy.</item>
    /// <item>kfence.sample_interval=0: KFENCE's pool is memory the capture needs.</item>
    /// <item>novmcoredd: device dumps add nothing we read and cost memory.</item>
    /// <item>norandmaps: our crash initramfs's CoreCLR finds its stack only without address-space randomization (CrashInitramfsBuilder.RequiredCommandLine).</item>
    /// </list>
    /// Not added: Debian's systemd.unit=kdump-tools-dump.service and RHEL's udev.children-max (our
    /// capture initramfs runs neither), usbcore.nousb (dumping to a USB disk must stay possible),
    /// nokaslr (the in-kernel loader places the kernel inside the region; KASLR stays within it).
    /// </summary>
    public static IReadOnlyList<string> CrashParameters { get; } =
    [
        "irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "mce=off", "numa=off",
        "acpi_no_memhotplug", "transparent_hugepage=never", "hest_disable", "cma=0", "hugetlb_cma=0",
        "pcie_ports=compat", "kfence.sample_interval=0", "novmcoredd", Initramfs.CrashInitramfsBuilder.RequiredCommandLine,
    ];

    /// <summary>panic=10: if the capture kernel itself panics, reboot instead of hanging; added only when the line sets no panic=.</summary>
    public const string CrashPanic = "panic=10";

    /// <summary>
    /// Dropped from a crash kernel's line: the reservation itself, huge page and CMA pools,
    /// big log buffers and swiotlb (all allocations the region cannot afford), slub_debug, quiet
    /// (the capture should be seen on the console), and the parameters <see cref="CrashParameters"/>
    /// sets again. Debian's kdump-config drops crashkernel, hugepages, hugepagesz; kdump-utils the rest.
    /// </summary>
    public static IReadOnlyList<string> CrashDropped { get; } =
    [
        "crashkernel", "hugepages", "hugepagesz", "default_hugepagesz", "hugetlb_cma", "cma", "log_buf_len", "swiotlb",
        "slub_debug", "quiet", "nr_cpus", "maxcpus", "irqpoll", "reset_devices", "kfence.sample_interval", "norandmaps",
    ];

    /// <summary>Splits a command line into parameters, keeping double-quoted values whole.</summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        var parameters = new List<string>();
        var current = new StringBuilder();
        bool quoted = false;
        foreach (char c in commandLine)
        {
            if (c == '"')
                quoted = !quoted;
            if (char.IsWhiteSpace(c) && !quoted)
            {
                if (current.Length > 0)
                    parameters.Add(current.ToString());
                current.Clear();
            }
            else
                current.Append(c);
        }
        if (current.Length > 0)
            parameters.Add(current.ToString());
        return parameters;
    }

    /// <summary>The parameter's name: the part before '=', with the kernel's '-' and '_' equivalence folded to '_'.</summary>
    public static string NameOf(string parameter)
    {
        int equals = parameter.IndexOf('=');
        return (equals < 0 ? parameter : parameter[..equals]).Replace('-', '_');
    }

    /// <summary>
    /// <paramref name="commandLine"/> without the kernel parameters named in <paramref name="names"/>;
    /// what follows "--" belongs to init (init/main.c) and is kept as it is.
    /// </summary>
    public static string Without(string commandLine, IEnumerable<string> names)
    {
        var drop = new HashSet<string>(names.Select(n => n.Replace('-', '_')), StringComparer.Ordinal);
        (List<string> kernel, List<string> init) = SplitAtInitArguments(commandLine);
        return string.Join(' ', kernel.Where(p => !drop.Contains(NameOf(p))).Concat(init));
    }

    /// <summary>
    /// <paramref name="commandLine"/> with <paramref name="parameters"/> added as kernel
    /// parameters: at the end, or before "--" when init has arguments, as anything after "--"
    /// would reach init instead of the kernel.
    /// </summary>
    public static string Add(string commandLine, IEnumerable<string?> parameters)
    {
        (List<string> kernel, List<string> init) = SplitAtInitArguments(commandLine);
        var added = parameters.Where(p => !string.IsNullOrWhiteSpace(p)).SelectMany(p => Split(p!));
        return string.Join(' ', kernel.Concat(added).Concat(init));
    }

    /// <summary>The kernel's parameters, and "--" with init's arguments after it (empty when there is no "--").</summary>
    private static (List<string> Kernel, List<string> Init) SplitAtInitArguments(string commandLine)
    {
        var all = Split(commandLine).ToList();
        int separator = all.IndexOf("--");
        return separator < 0 ? (all, []) : (all[..separator], all[separator..]);
    }

    /// <summary>
    /// The running kernel's line for reuse (kexec --reuse-cmdline): BOOT_IMAGE= names the file
    /// GRUB loaded, not the one we load; a crash kernel also loses crashkernel= so it does not
    /// try to reserve inside its own reservation.
    /// </summary>
    public static string Reuse(string procCommandLine, bool forCrash) =>
        Without(procCommandLine, forCrash ? ["BOOT_IMAGE", "crashkernel"] : ["BOOT_IMAGE"]);

    /// <summary>A crash kernel's line: <paramref name="commandLine"/> minus <see cref="CrashDropped"/>, plus <see cref="CrashParameters"/> and <see cref="CrashPanic"/>.</summary>
    public static string ForCrash(string commandLine)
    {
        string kept = Without(commandLine, [.. CrashDropped, "BOOT_IMAGE"]);
        bool hasPanic = SplitAtInitArguments(kept).Kernel.Any(p => NameOf(p) == "panic");
        return Add(kept, [.. CrashParameters, hasPanic ? null : CrashPanic]);
    }
}
