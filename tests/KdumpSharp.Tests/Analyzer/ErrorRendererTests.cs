using KdumpSharp.Analyzer;
using KdumpSharp.Kernel;

namespace KdumpSharp.Tests.Analyzer;

/// <summary>Text read from a damaged dump can hold any byte; the rendered error stays one printable line.</summary>
public class ErrorRendererTests
{
    [Test]
    public void A_message_carrying_control_characters_from_the_dump_is_rendered_as_one_escaped_line()
    {
        var error = new StringWriter();
        int code = ErrorRenderer.Render(new KernelDataException("task comm \"ab\ncd\u001b[2J\" is odd"), error);
        Assert.That(code, Is.EqualTo(ExitCodes.DataUnavailable));
        Assert.That(error.ToString(), Is.EqualTo("kds-analyzer: task comm \"ab\\ncd\\x1b[2J\" is odd" + Environment.NewLine));
    }
}
