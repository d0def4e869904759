using KdumpSharp.Text;

namespace KdumpSharp.Tests.Text;

public class OneLineTextTests
{
    [Test]
    public void Plain_text_is_returned_as_is() =>
        Assert.That(OneLineText.Escape(@"init_task C:\x"), Is.EqualTo(@"init_task C:\x"));

    [TestCase("a\nb", @"a\nb")]
    [TestCase("\r\t", @"\r\t")]
    [TestCase("\u001b[2J", @"\x1b[2J")]
    [TestCase("x\u0085y", @"x\x85y")]
    [TestCase("\u2028", @"\u2028")]
    public void Control_characters_become_escapes(string text, string expected) =>
        Assert.That(OneLineText.Escape(text), Is.EqualTo(expected));

    [Test]
    public void Quote_wraps_the_escaped_text() =>
        Assert.That(OneLineText.Quote("\n"), Is.EqualTo("\"\\n\""));
}
