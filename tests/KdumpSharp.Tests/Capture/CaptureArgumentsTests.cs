using System.Globalization;
using KdumpSharp.Capture;
using KdumpSharp.Compression;
using KdumpSharp.Tests.Fuzzing;

namespace KdumpSharp.Tests.Capture;

/// <summary>kds-capture's hand-written command line: every option in each of its spellings, the defaults,
/// and one usage error (exit code 2, one line, no stack) for each way a command line can be wrong.</summary>
public class CaptureArgumentsTests
{
    [Test]
    public void No_arguments_capture_proc_vmcore_at_level_31_into_var_crash()
    {
        CaptureArguments a = CaptureArguments.Parse([]);
        Assert.That(a.Request, Is.EqualTo(CaptureRequest.Capture));
        Assert.That(a.Options.Input, Is.EqualTo("/proc/vmcore"));
        Assert.That(a.Options.Directory, Is.EqualTo("/var/crash"));
        Assert.That(a.Options.Format, Is.EqualTo(CaptureFormat.Native));
        Assert.That(a.Options.Compression, Is.EqualTo(PageCompression.Lz4));
        Assert.That(a.Options.CompressionLevel, Is.Null);
        Assert.That(a.Options.DumpLevel, Is.EqualTo(31));
        Assert.That(a.Options.Threads, Is.Zero);
        Assert.That(a.Options.HostName, Is.Null);
        Assert.That(a.Options.Mmap, Is.Null);
        Assert.That(a.Options.Deduplicate, Is.Null, "copies by the level");
        Assert.That(a.IsQuiet, Is.False);
        Assert.That(a.ToStdout, Is.False);
    }

    [Test]
    public void Every_option_is_read_in_its_long_form()
    {
        CaptureArguments a = CaptureArguments.Parse(["--dir", "/d", "--format", "kds", "--compress", "zstd", "--compress-level", "-5",
            "--level", "1", "--threads", "3", "--quiet", "--host", "h", "--no-dedup", "--mmap", "/v"]);
        Assert.That(a.Options.Directory, Is.EqualTo("/d"));
        Assert.That(a.Options.Compression, Is.EqualTo(PageCompression.Zstd));
        Assert.That(a.Options.CompressionLevel, Is.EqualTo(-5));
        Assert.That(a.Options.DumpLevel, Is.EqualTo(1));
        Assert.That(a.Options.Threads, Is.EqualTo(3));
        Assert.That(a.Options.HostName, Is.EqualTo("h"));
        Assert.That(a.Options.Deduplicate, Is.False);
        Assert.That(a.Options.Mmap, Is.True);
        Assert.That(a.Options.Input, Is.EqualTo("/v"));
        Assert.That(a.IsQuiet, Is.True);
    }

    [Test]
    public void Dedup_forces_copies_on_and_no_dedup_off_whatever_the_level()
    {
        Assert.That(CaptureArguments.Parse(["--dedup"]).Options.FindsCopies, Is.True, "level 31");
        Assert.That(CaptureArguments.Parse(["--no-dedup", "-l", "1"]).Options.FindsCopies, Is.False, "level 1");
    }

    /// <summary>By default copies are looked for exactly when the level keeps a user, page-cache or free page.</summary>
    [TestCase(31, false)]
    [TestCase(30, false)]
    [TestCase(27, true)]
    [TestCase(29, false)]
    [TestCase(25, true)]
    [TestCase(23, true)]
    [TestCase(15, true)]
    [TestCase(1, true)]
    [TestCase(0, true)]
    public void By_default_copies_are_looked_for_where_the_level_keeps_bulk_memory(int level, bool copies)
    {
        Assert.That(CaptureArguments.Parse(["-l", level.ToString(CultureInfo.InvariantCulture)]).Options.FindsCopies, Is.EqualTo(copies));
    }

    [Test]
    public void Short_names_and_equals_signs_mean_the_same()
    {
        CaptureArguments a = CaptureArguments.Parse(["-q", "-d", "/d", "-f", "kdump", "-c", "lzo", "-l", "17", "-j", "2", "--no-mmap", "--stdout"]);
        CaptureArguments b = CaptureArguments.Parse(["--quiet", "--dir=/d", "--format=kdump", "--compress=lzo", "--level=17", "--threads=2", "--no-mmap", "--stdout"]);
        foreach (CaptureArguments x in new[] { a, b })
        {
            Assert.That(x.Options.Directory, Is.EqualTo("/d"));
            Assert.That(x.Options.Format, Is.EqualTo(CaptureFormat.Kdump));
            Assert.That(x.Options.Compression, Is.EqualTo(PageCompression.Lzo));
            Assert.That(x.Options.DumpLevel, Is.EqualTo(17));
            Assert.That(x.Options.Threads, Is.EqualTo(2));
            Assert.That(x.Options.Mmap, Is.False);
            Assert.That(x.IsQuiet && x.ToStdout, Is.True);
        }
    }

    [Test]
    public void The_kdump_format_defaults_to_zlib_as_makedumpfile_c()
    {
        Assert.That(CaptureArguments.Parse(["-f", "kdump"]).Options.Compression, Is.EqualTo(PageCompression.Zlib));
    }

    [Test]
    public void After_a_double_dash_a_word_that_looks_like_an_option_is_the_input()
    {
        CaptureArguments a = CaptureArguments.Parse(["-q", "--", "-odd-name"]);
        Assert.That(a.Options.Input, Is.EqualTo("-odd-name"));
        Assert.That(a.IsQuiet, Is.True);
    }

    [TestCase("--help")]
    [TestCase("-h")]
    [TestCase("-?")]
    public void Help_wins_over_values_that_would_be_refused(string help)
    {
        Assert.That(CaptureArguments.Parse(["-l", "99", "-f", "elf", help]).Request, Is.EqualTo(CaptureRequest.Help));
        Assert.That(CaptureArguments.Parse([help, "-q", "--version"]).Request, Is.EqualTo(CaptureRequest.Help));
    }

    [Test]
    public void Help_names_the_input_and_every_option_and_exits_0()
    {
        var output = new StringWriter();
        Assert.That(CaptureCli.Run(["--help"], output, new StringWriter()), Is.EqualTo(ExitCodes.Success));
        string help = output.ToString();
        Assert.That(help, Does.Contain("/proc/vmcore"));
        foreach (string option in new[] { "--dir", "--format", "--compress", "--compress-level", "--level", "--threads", "--quiet", "--host",
                     "--dedup", "--no-dedup", "--mmap", "--no-mmap", "--stdout", "--help", "--version" })
            Assert.That(help, Does.Contain(option + " ").Or.Contain(option + "\n").Or.Contain(option + "\r"), option);
    }

    [Test]
    public void Version_prints_the_informational_version_and_exits_0()
    {
        var output = new StringWriter();
        Assert.That(CaptureCli.Run(["--version"], output, new StringWriter()), Is.EqualTo(ExitCodes.Success));
        Assert.That(output.ToString(), Does.Match(@"^\d+\.\d+\.\d+"));
    }

    [TestCase(new[] { "--bogus" }, "unknown option '--bogus'")]
    [TestCase(new[] { "-x" }, "unknown option '-x'")]
    [TestCase(new[] { "-l" }, "-l needs a value")]
    [TestCase(new[] { "-l", "x" }, "--level takes a whole number, not 'x'")]
    [TestCase(new[] { "-l", "32" }, "--level must be between 0 and 31")]
    [TestCase(new[] { "-l", "-1" }, "--level must be between 0 and 31")]
    [TestCase(new[] { "-j", "-2" }, "--threads must be 0 (one per CPU) or more")]
    [TestCase(new[] { "-j", "99999999999" }, "--threads takes a whole number")]
    [TestCase(new[] { "-f", "elf" }, "--format is kds or kdump, not 'elf'")]
    [TestCase(new[] { "-c", "gzip" }, "--compress is lz4, zstd or none")]
    [TestCase(new[] { "-c", "zlib" }, "the kds format uses lz4, zstd or none, not zlib")]
    [TestCase(new[] { "-f", "kdump", "-c", "lz4" }, "makedumpfile's format has no LZ4")]
    [TestCase(new[] { "-d", "/a", "--dir=/b" }, "--dir given twice")]
    [TestCase(new[] { "--quiet=yes" }, "--quiet takes no value")]
    [TestCase(new[] { "--mmap", "--no-mmap" }, "--mmap and --no-mmap contradict each other")]
    [TestCase(new[] { "--no-dedup", "--dedup" }, "--dedup and --no-dedup contradict each other")]
    [TestCase(new[] { "/a", "/b" }, "one input only, not both '/a' and '/b'")]
    public void A_wrong_command_line_is_one_usage_line_and_exit_code_2(string[] args, string message)
    {
        var error = new StringWriter();
        int code = CaptureCli.Run(args, new StringWriter(), error);
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.ToString(), Does.StartWith("kds-capture: ").And.Contain(message));
        Assert.That(error.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
    }

    /// <summary>Random command lines from option names, values and junk: each parses or is a usage error, nothing else.</summary>
    [Test]
    public void Random_command_lines_parse_or_fail_only_with_usage_errors()
    {
        string[] words = ["-d", "--dir", "-f", "--format", "-c", "--compress", "--compress-level", "-l", "--level", "-j", "--threads", "-q",
            "--quiet", "--host", "--dedup", "--no-dedup", "--mmap", "--no-mmap", "--stdout", "--", "-", "--level=", "--dir=", "-l=3", "--=",
            "kds", "kdump", "lz4", "zstd", "lzo", "zlib", "none", "0", "31", "-7", "1e3", "2147483648", "", " ", "/proc/vmcore", "\0", "é"];
        Random random = FuzzRandom.For(nameof(Random_command_lines_parse_or_fail_only_with_usage_errors), 0);
        int parsed = 0, rejected = 0;
        for (int i = 0; i < 20000; i++)
        {
            string[] args = new string[random.Next(0, 7)];
            for (int k = 0; k < args.Length; k++)
                args[k] = words[random.Next(words.Length)];
            try
            {
                CaptureArguments.Parse(args);
                parsed++;
            }
            catch (UsageException)
            {
                rejected++;
            }
        }
        Assert.That(parsed, Is.GreaterThan(0), "no command line was ever accepted");
        Assert.That(rejected, Is.GreaterThan(0), "no command line was ever refused");
    }
}
