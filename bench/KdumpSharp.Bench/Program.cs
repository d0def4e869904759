using KdumpSharp.Bench;

// kds-bench: measurements run on demand, not in CI. Each command prints a small table.
return args switch
{
    ["chunking", .. var dumps] when dumps.Length > 0 => ChunkingBench.Run(dumps),
    ["write", .. var dumps] when dumps.Length > 0 => WriteBench.Run(dumps),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: kds-bench chunking DUMP...     page-level vs chunk-level compression on a dump's pages");
    Console.Error.WriteLine("       kds-bench write DUMP...        native format write speed per codec and thread count");
    return 2;
}
