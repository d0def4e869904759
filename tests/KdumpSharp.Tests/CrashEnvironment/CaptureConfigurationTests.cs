using KdumpSharp.Capture;
using KdumpSharp.Compression;
using KdumpSharp.CrashEnvironment;

namespace KdumpSharp.Tests.CrashEnvironment;

public sealed class CaptureConfigurationTests
{
    [Test]
    public void TextReadsBackToTheSameConfiguration()
    {
        var configuration = new CaptureConfiguration
        {
            Target = "UUID=0d9a1d4c-5b3e-4f7a-9c1e-2b6f0e8a7d31",
            Kind = TargetKind.Filesystem,
            FileSystem = "ext4",
            Path = "/crash",
            Format = CaptureFormat.Kdump,
            Compression = PageCompression.Zstd,
            DumpLevel = 17,
            FinalAction = CrashAction.PowerOff,
            FailureAction = CrashAction.Halt,
            DeviceTimeout = TimeSpan.FromSeconds(12),
            CaptureTimeout = TimeSpan.FromSeconds(600),
        };

        Assert.That(CaptureConfiguration.Parse(configuration.ToText()), Is.EqualTo(configuration));
    }

    [Test]
    public void DefaultsFollowKdumpConf()
    {
        CaptureConfiguration parsed = CaptureConfiguration.Parse("# only a target\ntarget = /dev/vdb   # the dump disk\n");

        Assert.That(parsed, Is.EqualTo(new CaptureConfiguration { Target = "/dev/vdb" }));
        Assert.That((parsed.Kind, parsed.Path, parsed.DumpLevel, parsed.FinalAction, parsed.FailureAction, parsed.DeviceTimeout),
            Is.EqualTo((TargetKind.Filesystem, "/var/crash", 31, CrashAction.Reboot, CrashAction.Reboot, TimeSpan.FromSeconds(30))));
    }

    [TestCase("path = /x\n", "capture.conf: no target")]
    [TestCase("target /dev/vdb\n", "capture.conf:1: expected 'key = value'")]
    [TestCase("target = a\ntarget = b\n", "capture.conf:2: target is set twice (first on line 1)")]
    [TestCase("target = a\ncolour = red\n", "capture.conf:2: unknown key 'colour'")]
    [TestCase("target = a\nlevel = 32\n", "capture.conf:2: level '32' is not 0 to 31")]
    [TestCase("target = a\nlevel = -1\n", "capture.conf:2: level '-1' is not 0 to 31")]
    [TestCase("target = a\nfinal_action = explode\n", "capture.conf:2: final_action 'explode' is not reboot, poweroff, halt or shell")]
    [TestCase("target = a\ndevice_timeout = 0\n", "capture.conf:2: device_timeout '0' is not 1 to 86400 seconds")]
    [TestCase("target = a\npath = relative\n", "capture.conf:2: path 'relative' is not an absolute path")]
    [TestCase("target = a\ntarget_kind = raw\nformat = kdump\n", "capture.conf:2: a raw target takes the kds format only")]
    [TestCase("target =\n", "capture.conf:1: target has no value")]
    public void BadLinesAreNamedByFileAndLine(string text, string message)
    {
        var e = Assert.Throws<CaptureConfigurationException>(() => CaptureConfiguration.Parse(text, "capture.conf"));
        Assert.That(e!.Message, Does.StartWith(message));
    }

    [Test]
    public void AnOversizedFileIsRefusedBeforeParsing()
    {
        var e = Assert.Throws<CaptureConfigurationException>(() => CaptureConfiguration.Parse(new string('#', CaptureConfiguration.MaxBytes + 1), "c"));
        Assert.That(e!.Message, Does.Contain("more than the 65536"));
    }

    [Test]
    public void ValuesThatCannotBeOneLineAreRefusedWhenWriting()
    {
        Assert.Throws<ArgumentException>(() => new CaptureConfiguration { Target = "LABEL=a#b" }.ToText());
        Assert.Throws<ArgumentException>(() => new CaptureConfiguration { Target = "/dev/vdb\nlevel = 0" }.ToText());
    }

    /// <summary>Mutated files either parse or fail with the one documented exception; nothing else escapes.</summary>
    [Test]
    public void FuzzedFilesOnlyEverFailWithTheConfigurationException()
    {
        byte[] valid = System.Text.Encoding.UTF8.GetBytes(new CaptureConfiguration { Target = "LABEL=crash", Kind = TargetKind.Raw }.ToText());
        const string alphabet = "=#\n a0-/xyz\0";
        var random = new Random(4242);
        for (int i = 0; i < 5000; i++)
        {
            byte[] mutated = (byte[])valid.Clone();
            for (int n = random.Next(1, 8); n > 0; n--)
                mutated[random.Next(mutated.Length)] = (byte)alphabet[random.Next(alphabet.Length)];
            try
            {
                CaptureConfiguration.Parse(System.Text.Encoding.UTF8.GetString(mutated), "fuzz");
            }
            catch (CaptureConfigurationException)
            {
            }
        }
    }
}
