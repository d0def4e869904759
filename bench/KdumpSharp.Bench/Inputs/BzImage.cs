using System.Diagnostics;
using System.IO.Compression;

namespace KdumpSharp.Bench.Inputs;

/// <summary>
/// Gets the (stripped) vmlinux out of a bzImage the way the kernel's scripts/extract-vmlinux does:
/// look for each compressor's magic, decompress from there, keep the first result that is a whole
/// ELF file. Decompression ends in an error on the bytes after the payload (the size trailer), so
/// success is judged by the ELF, not by the decompressor's exit status.
/// </summary>
internal static class BzImage
{
    private sealed record Compressor(string Name, byte[] Magic, string[]? Command);

    /// <summary>Debian's x86 kernels are xz (6.1) or zstd (6.12); gzip is the kernel's default.</summary>
    private static readonly Compressor[] Compressors =
    [
        new("xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], ["xz", "-dc"]),
        new("zstd", [0x28, 0xb5, 0x2f, 0xfd], ["zstd", "-dcq"]),
        new("gzip", [0x1f, 0x8b, 0x08], null),
    ];

    private const int MaxAttempts = 16;

    /// <summary>Writes the vmlinux to <paramref name="target"/> (via a temporary file) and returns it.</summary>
    /// <exception cref="InvalidDataException">No magic led to a complete ELF image.</exception>
    public static string ExtractVmlinux(string vmlinuz, string target)
    {
        byte[] image = File.ReadAllBytes(vmlinuz);
        var candidates = Compressors
            .SelectMany(c => Offsets(image, c.Magic).Select(offset => (Offset: offset, Compressor: c)))
            .OrderBy(c => c.Offset)
            .Take(MaxAttempts)
            .ToList();
        string temporary = target + ".tmp";
        foreach ((int offset, Compressor compressor) in candidates)
        {
            File.Delete(temporary);
            Decompress(compressor, image.AsMemory(offset), temporary);
            if (ElfImage.IsComplete(temporary))
            {
                File.Move(temporary, target, overwrite: true);
                return target;
            }
        }
        File.Delete(temporary);
        throw new InvalidDataException(
            $"{vmlinuz}: no {string.Join('/', Compressors.Select(c => c.Name))} stream in it decompresses to a whole ELF image ({candidates.Count} tried)");
    }

    private static IEnumerable<int> Offsets(byte[] image, byte[] magic)
    {
        for (int at = image.AsSpan().IndexOf(magic); at >= 0;)
        {
            yield return at;
            int next = image.AsSpan(at + 1).IndexOf(magic);
            at = next < 0 ? -1 : at + 1 + next;
        }
    }

    private static void Decompress(Compressor compressor, ReadOnlyMemory<byte> input, string output)
    {
        using var target = new FileStream(output, FileMode.CreateNew, FileAccess.Write);
        if (compressor.Command is null)
        {
            try
            {
                using var gzip = new GZipStream(new MemoryStream(input.ToArray()), CompressionMode.Decompress);
                gzip.CopyTo(target);
            }
            catch (InvalidDataException)
            {
                // Trailing bytes after the member; what was written is judged by the ELF check.
            }
            return;
        }

        var start = new ProcessStartInfo(compressor.Command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in compressor.Command.Skip(1))
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new IOException($"cannot start {compressor.Command[0]}");
        Task feed = Task.Run(async () =>
        {
            try
            {
                await process.StandardInput.BaseStream.WriteAsync(input);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The decompressor stopped reading at the end of its stream or at garbage.
            }
        });
        Task<string> errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.BaseStream.CopyTo(target);
        process.WaitForExit();
        feed.Wait();
        errors.Wait();
    }
}
