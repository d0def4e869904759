using System.Buffers.Binary;
using KdumpSharp.Analyzer;
using KdumpSharp.Tests.Builders;

namespace KdumpSharp.Tests.Analyzer;

public class RdCommandTests
{
    [Test]
    public void Reads_by_virtual_address_through_the_page_tables()
    {
        var machine = new KernelImageFixture();
        BinaryPrimitives.WriteUInt64LittleEndian(machine.Ram.AsSpan(0x1001000), 0x4142434445464748);
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", machine.ToElfCore());

        var (code, output, error) = cli.Run("rd", dump, $"{machine.ImageVirtual + 0x1000:x}", "16");

        Assert.That(error, Is.Empty);
        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        Assert.That(output.TrimEnd(), Is.EqualTo($"{machine.ImageVirtual + 0x1000:x16}: 4142434445464748 0000000000000000   HGFEDCBA........"));
    }

    [Test]
    public void Reads_by_physical_address_in_bytes()
    {
        var machine = new KernelImageFixture();
        machine.Ram[0x200000] = 0xab;
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", machine.ToElfCore());

        var (code, output, _) = cli.Run("rd", "-p", "-w", "1", dump, "0x200000", "4");

        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        // The ASCII column stays aligned on a short last line.
        Assert.That(output.TrimEnd(), Is.EqualTo("0000000000200000: ab 00 00 00 " + new string(' ', 12 * 3) + "  ...."));
    }

    [Test]
    public void A_hole_is_reported_not_printed_as_zeros()
    {
        var machine = new KernelImageFixture();
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", machine.ToElfCore());

        var (code, output, error) = cli.Run("rd", "-p", dump, "0xa0000", "32");

        Assert.That(code, Is.EqualTo(ExitCodes.DataUnavailable));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd(), Is.EqualTo("kds-analyzer: physical address 0xa0000: not in the dump (no RAM there was saved)"));
    }

    [Test]
    public void Zero_fill_is_available_on_request()
    {
        var machine = new KernelImageFixture();
        using var cli = new CliHarness();
        string dump = cli.WriteFile("vmcore", machine.ToElfCore());

        var (code, output, _) = cli.Run("rd", "-p", "--zero-fill", dump, "0xa0000", "16");

        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        Assert.That(output, Does.StartWith("00000000000a0000: 0000000000000000 0000000000000000"));
    }

    [TestCase("zz", ExitCodes.Usage, "'zz' is not a valid address", TestName = "Bad address")]
    [TestCase(null, ExitCodes.CannotOpen, "no such file", TestName = "Missing dump")]
    public void Bad_input_gives_one_line_and_a_documented_code(string? address, int expectedCode, string expectedText)
    {
        var machine = new KernelImageFixture();
        using var cli = new CliHarness();
        string dump = address is null ? cli.PathOf("missing") : cli.WriteFile("vmcore", machine.ToElfCore());

        var (code, _, error) = cli.Run("rd", dump, address ?? "0");

        Assert.That(code, Is.EqualTo(expectedCode));
        Assert.That(error, Does.Contain(expectedText));
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void A_kernel_image_is_named_as_such()
    {
        byte[] bzImage = new byte[0x400];
        "HdrS"u8.CopyTo(bzImage.AsSpan(0x202));
        using var cli = new CliHarness();

        var (code, _, error) = cli.Run("rd", cli.WriteFile("vmlinuz", bzImage), "0");

        Assert.That(code, Is.EqualTo(ExitCodes.NotADump));
        Assert.That(error, Does.Contain("is a Linux kernel image (bzImage), not a dump"));
    }
}
