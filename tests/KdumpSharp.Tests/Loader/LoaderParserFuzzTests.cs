using System.Text;
using KdumpSharp.Kexec;

namespace KdumpSharp.Tests.Loader;

/// <summary>
/// The loader's parsers read files a user or a distribution wrote (grub.cfg, BLS entries,
/// /proc/iomem, a bzImage header). Damaged copies must parse to something or nothing, never throw
/// or hang.
/// </summary>
public class LoaderParserFuzzTests
{
    private const int Cases = 2000;

    private static readonly string Grub = "set default=\"1>0\"\nmenuentry 'A' $menuentry_id_option 'a' {\n linux /vmlinuz-1 root=/dev/sda ro\n initrd /initrd-1\n}\n"
        + "submenu 'S' {\n menuentry \"B\" {\n  linux /vmlinuz-2 quiet\n }\n if [ x ]; then\n  y\n fi\n}\n";

    private static readonly string Bls = "title T\nversion 6.1.0\nsort-key debian\nlinux /vmlinuz\ninitrd /a /b\noptions root=x\noptions quiet\n";

    private static readonly string Iomem = "00000000-00000fff : Reserved\n00100000-bffdffff : System RAM\n  a9000000-b0ffffff : Crash kernel\n";

    [Test]
    public void Damaged_text_inputs_parse_without_exceptions()
    {
        var random = Fuzzing.FuzzRandom.For("loader-config", 5);
        const string alphabet = "{}'\"\\>$ \n\t-:=#[]0123456789abcdefx";
        foreach (string seed in new[] { Grub, Bls, Iomem })
        {
            for (int i = 0; i < Cases; i++)
            {
                var text = new StringBuilder(seed);
                for (int edits = random.Next(1, 8); edits > 0 && text.Length > 0; edits--)
                {
                    int at = random.Next(text.Length);
                    switch (random.Next(3))
                    {
                        case 0: text.Remove(at, Math.Min(random.Next(1, 12), text.Length - at)); break;
                        case 1: text.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                        default: text[at] = alphabet[random.Next(alphabet.Length)]; break;
                    }
                }
                string input = text.ToString();
                GrubMenu menu = GrubMenu.Parse(input);
                _ = menu.Select("1>0");
                _ = menu.Select(menu.Default ?? "0");
                BlsEntry entry = BlsEntry.Parse("x.conf", input);
                _ = entry.Matches("x*");
                _ = KexecStatus.ParseIomem(input);
                _ = KexecStatus.ParseLockdown(input);
                _ = KernelCommandLine.ForCrash(input);
            }
        }
    }

    [Test]
    public void Damaged_iomem_meminfo_and_releases_estimate_without_exceptions()
    {
        var random = Fuzzing.FuzzRandom.For("loader-config", 11);
        const string alphabet = " \n-:0123456789abcdefxkBMemTotal.+";
        using var system = new FakeSystem();
        BzImage kernel = BzImage.Parse("vmlinuz", FakeSystem.BzImageBytes());
        string seed = Iomem + "MemTotal:  327680 kB\n6.12.117+deb12-amd64";
        for (int i = 0; i < Cases / 4; i++)
        {
            var text = new StringBuilder(seed);
            for (int edits = random.Next(1, 8); edits > 0 && text.Length > 0; edits--)
            {
                int at = random.Next(text.Length);
                if (random.Next(2) == 0)
                    text.Remove(at, Math.Min(random.Next(1, 12), text.Length - at));
                else
                    text[at] = alphabet[random.Next(alphabet.Length)];
            }
            string input = text.ToString();
            system.Write("/proc/iomem", input);
            system.Write("/proc/meminfo", input);
            CrashMachine machine = CrashReservationEstimate.ReadMachine(system.Root);
            Assert.That(machine.Cpus, Is.GreaterThanOrEqualTo(1));
            CrashReservation estimate = CrashReservationEstimate.Estimate(kernel, random.Next(1 << 26), input, machine, null);
            Assert.That(estimate.MeasuredFor, Is.EqualTo("6.1").Or.EqualTo("6.12"));
        }
    }
}
