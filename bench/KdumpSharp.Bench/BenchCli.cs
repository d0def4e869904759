using System.CommandLine;
using KdumpSharp.Bench.Analyzer;
using KdumpSharp.Bench.Capture;
using KdumpSharp.VmTests.Harness;

namespace KdumpSharp.Bench;

/// <summary>The kds-bench command line: one subcommand per bench.</summary>
internal static class BenchCli
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("kds-bench: KdumpSharp measured against its peers, on demand (not part of the test suite)")
        {
            AnalyzerCommand(),
            CaptureCommand(),
            RealisticDumpCommand(),
            DumpsCommand("chunking", "page-level vs chunk-level compression on a dump's pages", ChunkingBench.Run),
            DumpsCommand("write", "native format write speed per codec and thread count", WriteBench.Run),
        };
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
                Console.Error.WriteLine($"kds-bench: {e.Message}");
            return 2;
        }
        return parse.Invoke();
    }

    private static Command AnalyzerCommand()
    {
        var runs = Count("--runs", "measured runs with a warm page cache", 10, minimum: 1);
        var warmup = Count("--warmup", "unmeasured runs before them", 2, minimum: 0);
        var cold = Count("--cold", "runs after dropping the page cache (root only)", 3, minimum: 0);
        var crashRuns = Count("--crash-runs", "warm runs for crash (after at most one warm-up)", 3, minimum: 1);
        var crashCold = Count("--crash-cold", "cold runs for crash", 1, minimum: 0);
        var noCrash = new Option<bool>("--no-crash") { Description = "leave crash out (no debuginfo download)" };
        var bigMemory = Count("--big-memory", "MiB of RAM of the harness guest for the multi-gigabyte dump; 0 leaves it out", 4096, minimum: 0);
        var dumps = new Option<string[]>("--dump") { Description = "a dump to use instead of the harness's (repeatable; format detected)" };
        var vmlinux = new Option<string[]>("--vmlinux") { Description = "a debuginfo vmlinux for crash, matched to dumps by build ID (repeatable)" };
        var analyzer = new Option<string>("--analyzer") { Description = "the kds-analyzer to time (default: this checkout's Release apphost)" };
        var output = new Option<string>("--output") { Description = "directory for analyzer-<date>.md", DefaultValueFactory = _ => RepositoryPaths.Results };

        var command = new Command("analyzer", "time kds-analyzer info and dmesg against vmcore-dmesg, makedumpfile --dump-dmesg and crash; print and save a Markdown table")
        {
            runs, warmup, cold, crashRuns, crashCold, noCrash, bigMemory, dumps, vmlinux, analyzer, output,
        };
        command.SetAction(parse =>
        {
            var options = new AnalyzerBenchOptions
            {
                Runs = parse.GetValue(runs),
                Warmup = parse.GetValue(warmup),
                ColdRuns = parse.GetValue(cold),
                CrashRuns = parse.GetValue(crashRuns),
                CrashColdRuns = parse.GetValue(crashCold),
                Crash = !parse.GetValue(noCrash),
                BigMemoryMiB = parse.GetValue(bigMemory),
                Dumps = parse.GetValue(dumps) ?? [],
                Vmlinux = parse.GetValue(vmlinux) ?? [],
                Analyzer = parse.GetValue(analyzer),
            };
            // NUnit has no work directory outside a test run; guest consoles of new dumps go here.
            TestDumps.ConsoleLogDirectory = Path.Combine(Path.GetTempPath(), "kds-bench-vm-logs");

            AnalyzerReport report;
            using (var bench = new AnalyzerBench(options, message => Console.Error.WriteLine($"kds-bench: {message}")))
                report = bench.Run();
            string markdown = report.ToMarkdown();
            Console.Out.Write(markdown);

            string directory = parse.GetValue(output)!;
            Directory.CreateDirectory(directory);
            string file = Path.Combine(directory, $"analyzer-{report.Environment.Started:yyyy-MM-dd}.md");
            File.WriteAllText(file, markdown);
            Console.Error.WriteLine($"kds-bench: wrote {file}");
            return 0;
        });
        return command;
    }

    private static Command CaptureCommand()
    {
        var runs = Count("--runs", "measured runs per command", 5, minimum: 1);
        var sparse = Count("--sparse-gib", "GiB of RAM of the sparse vmcore saved at level 1 to show bounded memory; 0 leaves it out", 512, minimum: 0);
        var sparsePath = new Option<string>("--sparse-path") { Description = "where the sparse vmcore is made and kept", DefaultValueFactory = _ => "/var/tmp/kds-bench-sparse.elf" };
        var dump = new Option<string?>("--dump") { Description = "the ELF vmcore to save (default: the harness's 4 GiB-guest dump of 6.1)" };
        var capture = new Option<string?>("--capture") { Description = "the kds-capture to time (default: the harness's published single-file program for this checkout)" };
        var output = new Option<string>("--output") { Description = "directory for capture-<date>.md", DefaultValueFactory = _ => RepositoryPaths.Results };
        var sparseOnly = new Option<bool>("--sparse-only") { Description = "only the sparse vmcore's bounded-memory runs (written to capture-sparse-<date>.md)" };
        var realistic = new Option<bool>("--realistic") { Description = "save the realistic 4 GiB-guest dump (page cache, anonymous memory, freed pages with old data; `realistic-dump`), made on first use; written to capture-realistic-<date>.md" };
        var noMmap = new Option<bool>("--no-mmap") { Description = "leave out the kds-capture --mmap rows" };
        var noPeerThreads = new Option<bool>("--no-peer-threads") { Description = "leave out the makedumpfile --num-threads rows (minutes each on a loaded 2-core host)" };
        var levels = new Option<int[]>("--levels") { Description = "dump levels to compare at", DefaultValueFactory = _ => [31, 1], AllowMultipleArgumentsPerToken = true };
        var command = new Command("capture", "time kds-capture against makedumpfile saving the same vmcore at levels 31 and 1, one thread and all; print and save a Markdown table")
        {
            runs, sparse, sparsePath, dump, capture, output, sparseOnly, realistic, noMmap, noPeerThreads, levels,
        };
        command.SetAction(parse =>
        {
            TestDumps.ConsoleLogDirectory = Path.Combine(Path.GetTempPath(), "kds-bench-vm-logs");
            void Progress(string message) => Console.Error.WriteLine($"kds-bench: {message}");
            bool onlySparse = parse.GetValue(sparseOnly), isRealistic = parse.GetValue(realistic);
            string? description = null;
            string? dumpPath = parse.GetValue(dump);
            if (isRealistic)
            {
                (string vmcore, Inputs.RealisticManifest manifest) = Inputs.RealisticDump.Get(new Inputs.MemoryMix(), Progress);
                dumpPath ??= vmcore;
                description = Inputs.RealisticDump.Describe(manifest);
            }
            var options = new CaptureBenchOptions
            {
                Dump = dumpPath ?? (onlySparse ? "" : Inputs.HarnessDumps.Big(4096, Progress).Path),
                Capture = parse.GetValue(capture) ?? PublishedProgram.Capture.Executable,
                Runs = parse.GetValue(runs),
                SparseGiB = isRealistic ? 0 : parse.GetValue(sparse),
                SparsePath = parse.GetValue(sparsePath)!,
                Mmap = !parse.GetValue(noMmap),
                PeerThreads = !parse.GetValue(noPeerThreads),
                Levels = parse.GetValue(levels)!,
                DumpDescription = description,
            };
            string markdown;
            using (var bench = new CaptureBench(options, Progress))
            {
                if (onlySparse)
                {
                    BenchEnvironment before = BenchEnvironment.Capture(options.Capture);
                    IReadOnlyList<CaptureCaseResult> sparseResults = bench.RunSparse();
                    markdown = CaptureBench.ToMarkdown(options with { Dump = options.SparsePath }, before, BenchEnvironment.CurrentLoadAverage(), sparseResults);
                }
                else
                {
                    var (before, loadAfter, results) = bench.Run();
                    IReadOnlyList<CaptureCaseResult> sparseResults = bench.RunSparse();
                    markdown = CaptureBench.ToMarkdown(options, before, loadAfter, [.. results, .. sparseResults]);
                }
            }
            Console.Out.Write(markdown);
            string directory = parse.GetValue(output)!;
            Directory.CreateDirectory(directory);
            string file = Path.Combine(directory, $"capture-{(onlySparse ? "sparse-" : isRealistic ? "realistic-" : "")}{DateTime.UtcNow:yyyy-MM-dd}.md");
            File.WriteAllText(file, markdown);
            Console.Error.WriteLine($"kds-bench: wrote {file}");
            return 0;
        });
        return command;
    }

    private static Command RealisticDumpCommand()
    {
        var command = new Command("realistic-dump", "make (or find in the cache) the realistic multi-gigabyte ELF vmcore `capture --realistic` saves, and print its path");
        command.SetAction(_ =>
        {
            (string vmcore, Inputs.RealisticManifest manifest) = Inputs.RealisticDump.Get(new Inputs.MemoryMix(), message => Console.Error.WriteLine($"kds-bench: {message}"));
            Console.Error.WriteLine($"kds-bench: made in {manifest.GeneratorSeconds:0} s; phases: {string.Join(", ", manifest.PhaseSeconds.Select(p => $"{p.Key} {p.Value} s"))}");
            Console.Out.WriteLine(vmcore);
            return 0;
        });
        return command;
    }

    private static Command DumpsCommand(string name, string description, Func<string[], int> run)
    {
        var dumps = new Argument<string[]>("dumps") { Description = "ELF vmcores to measure on", Arity = ArgumentArity.OneOrMore };
        var command = new Command(name, description) { dumps };
        command.SetAction(parse => run(parse.GetValue(dumps)!));
        return command;
    }

    private static Option<int> Count(string name, string description, int value, int minimum)
    {
        var option = new Option<int>(name) { Description = $"{description} (default {value})", DefaultValueFactory = _ => value };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < minimum)
                result.AddError($"{name} must be at least {minimum}");
        });
        return option;
    }
}
