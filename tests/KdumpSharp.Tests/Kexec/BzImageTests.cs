using System.Buffers.Binary;
using KdumpSharp.Kexec;
using KdumpSharp.Tests.Fuzzing;

namespace KdumpSharp.Tests.Kexec;

public class BzImageTests
{
    [TestCaseSource(typeof(KexecTestKernels), nameof(KexecTestKernels.All))]
    public void Debian_kernels_parse_with_the_values_their_headers_hold(string package)
    {
        byte[] file = File.ReadAllBytes(KexecTestKernels.Path(package));
        BzImage image = BzImage.Parse("vmlinuz", file);

        // Cross-checked against the raw bytes (xxd -s 0x1f1) of both Debian images: protocol 2.15,
        // 27 setup sectors, 2 MiB alignment, 16 MiB pref_address, cmdline_size 2047.
        Assert.That(image.Header.Version, Is.EqualTo(0x020F));
        Assert.That(image.Header.SetupSectors, Is.EqualTo(0x27));
        Assert.That(image.KernelOffset, Is.EqualTo(40 * 512));
        Assert.That(image.Alignment, Is.EqualTo(0x200000));
        Assert.That(image.Header.PreferredAddress, Is.EqualTo(0x1000000));
        Assert.That(image.MinimumLoadAddress, Is.EqualTo(0x1000000));
        Assert.That(image.MaxCommandLineLength, Is.EqualTo(2047));
        Assert.That(image.Header.HeaderEnd, Is.EqualTo(0x26C));
        Assert.That(image.SetupHeaderBytes.Length, Is.EqualTo(0x26C - 0x1F1));
        Assert.That(image.Header.XLoadFlags & (XLoadFlags.Kernel64 | XLoadFlags.CanBeLoadedAbove4G), Is.EqualTo(XLoadFlags.Kernel64 | XLoadFlags.CanBeLoadedAbove4G));
        Assert.That(image.Header.InitSize, Is.EqualTo(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(0x260))));
        Assert.That(image.KernelMemorySize % 4096, Is.Zero);
        Assert.That(image.KernelMemorySize, Is.GreaterThanOrEqualTo((ulong)image.Kernel.Length));
        Assert.That(image.Kernel.Length, Is.EqualTo(file.Length - 40 * 512));
        // The payload (compressed vmlinux) lies inside the protected-mode kernel.
        Assert.That((long)image.Header.PayloadOffset + image.Header.PayloadLength, Is.LessThanOrEqualTo(image.Kernel.Length));
    }

    [TestCaseSource(typeof(KexecTestKernels), nameof(KexecTestKernels.All))]
    public void The_64_bit_entry_begins_with_the_code_head_64_S_puts_there(string package)
    {
        BzImage image = BzImage.Parse("vmlinuz", File.ReadAllBytes(KexecTestKernels.Path(package)));
        // startup_64 in arch/x86/boot/compressed/head_64.S opens with cld; cli.
        ReadOnlySpan<byte> entry = image.Kernel.Span[(int)BzImage.Entry64Offset..];
        Assert.That(entry[0], Is.EqualTo(0xFC), "cld");
        Assert.That(entry[1], Is.EqualTo(0xFA), "cli");
    }

    private static byte[] RealHeader() =>
        File.ReadAllBytes(KexecTestKernels.Path("linux-image-6.1.0-56-amd64")).AsSpan(0, 0x10000).ToArray();

    private static IEnumerable<TestCaseData> BadImages()
    {
        yield return Case("empty", _ => [], BzImageProblem.Truncated, "too short");
        yield return Case("ELF vmlinux", b => { b[0] = 0x7f; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; b[0x1FE] = 0; return b; }, BzImageProblem.NotBzImage, "ELF file");
        yield return Case("gzip", b => { b[0] = 0x1f; b[1] = 0x8b; b[0x203] = 0; return b; }, BzImageProblem.NotBzImage, "gzip");
        yield return Case("no boot flag", b => { b[0x1FE] = 0; return b; }, BzImageProblem.NotBzImage, "not a bzImage");
        yield return Case("protocol 2.11", b => { Put16(b, 0x206, 0x020B); return b; }, BzImageProblem.ProtocolTooOld, "2.11 is older than 2.12");
        yield return Case("not loaded high", b => { b[0x211] &= 0xFE; return b; }, BzImageProblem.NotRelocatable, "relocatable");
        yield return Case("not relocatable", b => { b[0x234] = 0; return b; }, BzImageProblem.NotRelocatable, "relocatable");
        yield return Case("32-bit only", b => { b[0x236] &= 0xFE; return b; }, BzImageProblem.Not64Bit, "XLF_KERNEL_64");
        yield return Case("below 4G only", b => { b[0x236] &= 0xFD; return b; }, BzImageProblem.CannotLoadAbove4G, "4 GiB");
        yield return Case("alignment 3", b => { Put32(b, 0x230, 3); return b; }, BzImageProblem.Corrupt, "kernel_alignment");
        yield return Case("init_size 0", b => { Put32(b, 0x260, 0); return b; }, BzImageProblem.Corrupt, "init_size");
        yield return Case("header past boot_params", b => { b[0x201] = 0xF0; return b; }, BzImageProblem.Corrupt, "setup header");
        yield return Case("cut in setup", b => b[..0x1000], BzImageProblem.Truncated, "before the 64-bit entry");
        yield return Case("bigger than init_size", b => { Put32(b, 0x260, 0x1000); return b; }, BzImageProblem.Corrupt, "larger than init_size");
    }

    private static TestCaseData Case(string name, Func<byte[], byte[]> mutate, BzImageProblem problem, string text) =>
        new TestCaseData(mutate, problem, text).SetName($"Rejects {name}");

    private static void Put16(byte[] b, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), v);

    private static void Put32(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);

    [TestCaseSource(nameof(BadImages))]
    public void Bad_images_are_refused_with_one_typed_line(Func<byte[], byte[]> mutate, BzImageProblem problem, string text)
    {
        byte[] bad = mutate(RealHeader());
        var e = Assert.Throws<BzImageFormatException>(() => BzImage.Parse("/boot/x", bad));
        Assert.That(e!.Problem, Is.EqualTo(problem));
        Assert.That(e.Message, Does.StartWith("/boot/x: ").And.Contain(text).And.Not.Contain("\n"));
    }

    [TestCase(Mutation.Truncate)]
    [TestCase(Mutation.FlipBits)]
    [TestCase(Mutation.OverwriteField)]
    [TestCase(Mutation.RandomBlock)]
    public void Fuzzed_headers_fail_only_with_typed_errors(Mutation mutation)
    {
        var seed = new FuzzSeed("vmlinuz-6.1", RealHeader(), [(0, 0x200), (0x1F1, 0x80), (0x4000, 0x400)], []);
        var random = Fuzzing.FuzzRandom.For("bzimage", 0x5eed + (int)mutation);
        int rejected = 0, accepted = 0;
        for (int i = 0; i < 2000; i++)
        {
            byte[] damaged = Mutator.Apply(seed, mutation, random);
            try
            {
                BzImage image = BzImage.Parse("fuzz", damaged);
                // Whatever is accepted must be self-consistent enough to place.
                Assert.That(image.KernelOffset + (int)BzImage.Entry64Offset, Is.LessThan(damaged.Length));
                Assert.That(image.SetupHeaderBytes.Length, Is.InRange(0x264 - 0x1F1, 0x290 - 0x1F1));
                Assert.That(ulong.IsPow2(image.Alignment), Is.True);
                accepted++;
            }
            catch (BzImageFormatException e)
            {
                Assert.That(e.Message, Does.Not.Contain("\n"));
                rejected++;
            }
        }
        TestContext.Out.WriteLine($"{mutation}: {accepted} accepted, {rejected} rejected");
        Assert.That(rejected, Is.GreaterThan(0), "no mutation was ever rejected: the checks cannot be working");
    }
}
