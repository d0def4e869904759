using KdumpSharp.Capture;

namespace KdumpSharp.Tests.Capture;

/// <summary>The capture log's time stamps: seconds with three decimals, right-aligned in eight characters.</summary>
public class CaptureLogTests
{
    [TestCase(0, "   0.000")]
    [TestCase(6, "   0.006")]
    [TestCase(999, "   0.999")]
    [TestCase(1000, "   1.000")]
    [TestCase(61_230, "  61.230")]
    [TestCase(1_234_567, "1234.567")]
    [TestCase(123_456_789, "123456.789")]
    public void Stamps_have_three_decimals_and_align_right(long milliseconds, string stamp)
    {
        Assert.That(CaptureLog.Stamp(TimeSpan.FromMilliseconds(milliseconds)), Is.EqualTo(stamp));
    }

    [Test]
    public void Each_line_is_stamped_kept_and_echoed_with_the_program_name()
    {
        var echo = new StringWriter();
        var log = new CaptureLog(echo);

        log.Write("one");
        log.Write("two");

        Assert.That(log.Text, Does.Match(@"^\[ {3}\d\.\d{3}\] one\n\[ {3}\d\.\d{3}\] two\n$"));
        Assert.That(echo.ToString().ReplaceLineEndings("\n"), Is.EqualTo(string.Concat(log.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => $"kds-capture: {l}\n"))));
    }
}
