using System.Text;

namespace KdumpSharp.Kexec;

/// <summary>A kernel to load, found on the system, and why it was chosen.</summary>
/// <param name="Kernel">The bzImage (a path under the <see cref="SystemRoot"/>).</param>
/// <param name="Initrd">Its initramfs, or null when none was found.</param>
/// <param name="Options">The command line the boot entry gives it, or null when the choice came from /boot's file names.</param>
/// <param name="Reason">One sentence for the user: which rule picked it.</param>
public sealed record BootEntry(string Kernel, string? Initrd, string? Options, string Reason);

/// <summary>
/// Finds the kernel to load when none is named, the way distributions lay them out: first the
/// running release (<c>uname -r</c>) in /boot under each distribution's names, then the default
/// Boot Loader Specification entry (systemd-boot, Fedora's grub BLS), then GRUB's default entry.
/// </summary>
public sealed class BootEntryFinder(SystemRoot root)
{
    /// <summary>Kernel names by release: Debian/Ubuntu/Fedora/SUSE, Gentoo's installkernel, Gentoo/others' make install.</summary>
    public static IReadOnlyList<string> KernelNames { get; } = ["vmlinuz-{0}", "kernel-{0}", "bzImage-{0}"];

    /// <summary>Initramfs names: Debian/Ubuntu (initramfs-tools), Fedora/RHEL (dracut), Arch/Gentoo, SUSE.</summary>
    public static IReadOnlyList<string> InitrdNames { get; } = ["initrd.img-{0}", "initrd-{0}.img", "initramfs-{0}.img", "initrd-{0}"];

    /// <summary>Where BLS entries live: $BOOT (XBOOTLDR or ESP mounted at /boot), the ESP at /efi or /boot/efi.</summary>
    public static IReadOnlyList<string> BlsRoots { get; } = ["/boot", "/efi", "/boot/efi"];

    /// <summary>grub.cfg locations: Debian/Ubuntu/Arch, then Fedora/SUSE's grub2.</summary>
    public static IReadOnlyList<string> GrubDirectories { get; } = ["/boot/grub", "/boot/grub2"];

    /// <summary>systemd-boot's vendor GUID, under which LoaderEntryDefault (set by bootctl set-default) lives.</summary>
    private const string LoaderVendorGuid = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

    /// <summary>The kernel to load: the first rule that finds one wins.</summary>
    /// <exception cref="KexecFailureException">No rule found a kernel (<see cref="KexecFailureKind.NoKernelFound"/>).</exception>
    public BootEntry Find(string? release = null)
    {
        release ??= root.KernelRelease;
        BootEntry? entry = (release is null ? null : FromRunningRelease(release)) ?? FromBls() ?? FromGrub();
        return entry ?? throw new KexecFailureException(KexecFailureKind.NoKernelFound,
            $"found no kernel to load: no /boot/vmlinuz-{release ?? "<release>"} (or kernel-, bzImage-, kernel-genkernel-), "
            + "no Boot Loader Specification entry and no GRUB menu entry",
            hint: "name the kernel: kds-loader load /path/to/vmlinuz --initrd /path/to/initrd");
    }

    /// <summary>/boot/vmlinuz-&lt;release&gt; and friends, with the matching initramfs.</summary>
    public BootEntry? FromRunningRelease(string release)
    {
        string? kernel = FirstExisting("/boot", KernelNames, release)
            ?? Glob("/boot", "kernel-genkernel-", "-" + release);
        if (kernel is null)
            return FromPackageBase(release);
        string? initrd = FirstExisting("/boot", InitrdNames, release)
            ?? Glob("/boot", "initramfs-genkernel-", "-" + release);
        string what = initrd is null ? "no initramfs found for it" : $"initramfs {Display(initrd)}";
        return new BootEntry(kernel, initrd, null, $"{Display(kernel)} is the running kernel's release {release} (uname -r); {what}");
    }

    /// <summary>
    /// Arch Linux names /boot's files after the package, not the release: /boot/vmlinuz-linux
    /// and /boot/initramfs-linux.img, with the package name in /usr/lib/modules/&lt;release&gt;/pkgbase.
    /// </summary>
    private BootEntry? FromPackageBase(string release)
    {
        string? package = root.ReadText($"/usr/lib/modules/{release}/pkgbase")?.Trim();
        if (string.IsNullOrEmpty(package) || package.Contains('/'))
            return null;
        string kernel = root.Resolve($"/boot/vmlinuz-{package}");
        if (!File.Exists(kernel))
            return null;
        string? initrd = FirstExisting("/boot", ["initramfs-{0}.img"], package);
        string what = initrd is null ? "no initramfs found for it" : $"initramfs {Display(initrd)}";
        return new BootEntry(kernel, initrd, null,
            $"{Display(kernel)} belongs to package {package}, which /usr/lib/modules/{release}/pkgbase names for the running release {release} (uname -r); {what}");
    }

    /// <summary>The default BLS entry: loader.conf's or LoaderEntryDefault's glob, else the entry systemd-boot sorts first.</summary>
    public BootEntry? FromBls()
    {
        foreach (string blsRoot in BlsRoots)
        {
            string directory = root.Resolve(blsRoot + "/loader/entries");
            if (!Directory.Exists(directory))
                continue;
            var entries = Directory.GetFiles(directory, "*.conf")
                .Select(path => BlsEntry.Parse(Path.GetFileName(path), File.ReadAllText(path)))
                .Where(e => e.Linux is not null)
                .ToList();
            if (entries.Count == 0)
                continue;
            (string? pattern, string source) = BlsDefault(blsRoot);
            BlsEntry? chosen = pattern is null ? null : entries.Where(e => e.Matches(pattern)).OrderDescending(BlsEntry.Order).FirstOrDefault();
            string why = chosen is null
                ? "the entry systemd-boot sorts first (no default set)"
                : $"the default entry ({source} says '{pattern}')";
            chosen ??= entries.OrderDescending(BlsEntry.Order).First();
            string kernel = PathIn(blsRoot, chosen.Linux!);
            string? initrd = chosen.Initrds.Count == 0 ? null : PathIn(blsRoot, chosen.Initrds[0]);
            string extra = chosen.Initrds.Count > 1 ? $" (only its first initrd of {chosen.Initrds.Count} is loaded)" : "";
            return new BootEntry(kernel, initrd, chosen.Options,
                $"{blsRoot}/loader/entries/{chosen.FileName} is {why}{extra}");
        }
        return null;
    }

    private (string? Pattern, string Source) BlsDefault(string blsRoot)
    {
        byte[]? variable = root.ReadBytes($"/sys/firmware/efi/efivars/LoaderEntryDefault-{LoaderVendorGuid}");
        if (variable is { Length: > 4 })
        {
            // efivarfs: 4 attribute bytes, then the entry id as NUL-terminated UTF-16LE.
            string id = Encoding.Unicode.GetString(variable, 4, (variable.Length - 4) & ~1).TrimEnd('\0');
            if (id.Length > 0)
                return (id, "the LoaderEntryDefault EFI variable");
        }
        foreach (string loaderRoot in BlsRoots.Prepend(blsRoot).Distinct())
        {
            string? conf = root.ReadText(loaderRoot + "/loader/loader.conf");
            if (conf is null)
                continue;
            foreach (string line in conf.Split('\n'))
            {
                string[] words = line.Trim().Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
                // "@saved" and friends name EFI variables the boot menu keeps; they are not entry ids.
                if (words.Length == 2 && words[0] == "default" && !words[1].StartsWith('@'))
                    return (words[1].Trim(), $"{loaderRoot}/loader/loader.conf");
            }
        }
        return (null, "");
    }

    /// <summary>GRUB's default entry: grub.cfg's "set default", or grubenv's saved_entry when it says so.</summary>
    public BootEntry? FromGrub()
    {
        foreach (string grubDirectory in GrubDirectories)
        {
            string? config = root.ReadText(grubDirectory + "/grub.cfg");
            if (config is null)
                continue;
            GrubMenu menu = GrubMenu.Parse(config);
            string? setting = menu.Default;
            string source = $"{grubDirectory}/grub.cfg sets default={setting}";
            if (setting is null or "saved" || setting.Contains("saved_entry", StringComparison.Ordinal))
            {
                string? saved = GrubEnvironment(grubDirectory, "saved_entry");
                setting = saved ?? "0";
                source = saved is null ? "GRUB's first entry (no default set)" : $"saved_entry={saved} in {grubDirectory}/grubenv";
            }
            GrubMenu.Entry? entry = menu.Select(setting) ?? menu.Select("0");
            if (entry?.Linux is null)
                continue;
            string? kernel = GrubPath(entry.Linux);
            if (kernel is null)
                continue;
            string? initrd = entry.Initrd is null ? null : GrubPath(entry.Initrd);
            return new BootEntry(kernel, initrd, entry.Options, $"'{entry.Title}' is GRUB's default entry ({source})");
        }
        return null;
    }

    /// <summary>A key of grubenv, GRUB's 1 KiB "key=value" block padded with '#'.</summary>
    private string? GrubEnvironment(string grubDirectory, string key)
    {
        string? text = root.ReadText(grubDirectory + "/grubenv");
        if (text is null)
            return null;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(key + "=", StringComparison.Ordinal) && line.Length > key.Length + 1)
                return line[(key.Length + 1)..];
        }
        return null;
    }

    /// <summary>
    /// GRUB names files on the partition it boots from: "/vmlinuz-…" when /boot is its own
    /// partition, "/boot/vmlinuz-…" when it is part of /. Try the first under /boot, then as is.
    /// </summary>
    private string? GrubPath(string grubPath)
    {
        foreach (string candidate in new[] { "/boot" + grubPath, grubPath })
        {
            if (File.Exists(root.Resolve(candidate)))
                return root.Resolve(candidate);
        }
        return null;
    }

    private string PathIn(string blsRoot, string entryPath) => root.Resolve(blsRoot + "/" + entryPath.TrimStart('/'));

    private string? FirstExisting(string directory, IEnumerable<string> patterns, string release)
    {
        foreach (string pattern in patterns)
        {
            string path = root.Resolve($"{directory}/{string.Format(pattern, release)}");
            if (File.Exists(path))
                return path;
        }
        return null;
    }

    /// <summary>Gentoo's genkernel names files kernel-genkernel-&lt;arch&gt;-&lt;release&gt;; the arch part varies.</summary>
    private string? Glob(string directory, string prefix, string suffix)
    {
        string resolved = root.Resolve(directory);
        if (!Directory.Exists(resolved))
            return null;
        return Directory.GetFiles(resolved, prefix + "*")
            .Where(p => Path.GetFileName(p).EndsWith(suffix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .FirstOrDefault();
    }

    /// <summary>A path as the running system names it (without a test root prefix).</summary>
    private string Display(string path) =>
        root.Directory == "/" ? path : "/" + Path.GetRelativePath(root.Directory, path);
}
