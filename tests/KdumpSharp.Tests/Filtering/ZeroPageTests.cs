using KdumpSharp.Filtering;

namespace KdumpSharp.Tests.Filtering;

public sealed class ZeroPageTests
{
    [Test]
    public void Only_an_all_zero_page_is_zero()
    {
        byte[] page = new byte[4096];
        Assert.That(ZeroPage.IsZero(page), Is.True);
        foreach (int at in new[] { 0, 1, 63, 64, 2047, 4095 })
        {
            page[at] = 0x80;
            Assert.That(ZeroPage.IsZero(page), Is.False, $"byte {at}");
            page[at] = 0;
        }
    }

    [TestCase(4096)]
    [TestCase(4096 + 17)]
    [TestCase(255)]
    [TestCase(0)]
    public void Every_byte_counts_in_every_block_and_in_the_tail(int length)
    {
        byte[] page = new byte[length];
        Assert.That(ZeroPage.IsZero(page), Is.True);
        for (int at = 0; at < length; at += at < 300 ? 1 : 61)
        {
            page[at] = 1;
            Assert.That(ZeroPage.IsZero(page), Is.False, $"byte {at}");
            page[at] = 0;
        }
        if (length > 0)
        {
            page[^1] = 0xff;
            Assert.That(ZeroPage.IsZero(page), Is.False, "last byte");
        }
    }

    [Test]
    public void Dump_levels_exclude_what_makedumpfile_excludes()
    {
        Assert.That(DumpLevels.FromNumber(31), Is.EqualTo(DumpLevel.All));
        Assert.That(() => DumpLevels.FromNumber(32), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(DumpLevel.Cache.Excludes(PageClass.Cache) && !DumpLevel.Cache.Excludes(PageClass.CachePrivate));
        Assert.That(DumpLevel.CachePrivate.Excludes(PageClass.Cache) && DumpLevel.CachePrivate.Excludes(PageClass.CachePrivate));
        Assert.That(DumpLevel.None.Excludes(PageClass.HwPoison) && DumpLevel.None.Excludes(PageClass.Offline));
        Assert.That(DumpLevel.All.Excludes(PageClass.Kept) || DumpLevel.All.Excludes(PageClass.Unknown), Is.False);
        Assert.That(((DumpLevel)30).Excludes(PageClass.Zero), Is.False);
    }
}
