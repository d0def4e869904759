using KdumpSharp.IO;

namespace KdumpSharp.Tests.IO;

/// <summary>Writing back window by window changes nothing in what the file holds, even when the writer seeks back.</summary>
public class WritebackStreamTests
{
    [Test]
    public void Bytes_written_across_windows_and_rewritten_after_a_seek_reach_the_file()
    {
        string directory = Directory.CreateTempSubdirectory("kds-writeback-").FullName;
        try
        {
            string path = Path.Combine(directory, "dump");
            byte[] expected = new byte[3 * WritebackStream.Window + 12345];
            new Random(3).NextBytes(expected);
            using (CrashSafeFile file = CrashSafeFile.Create(path))
            {
                // Odd-sized writes, so windows end inside a write.
                for (int at = 0; at < expected.Length; at += 100_003)
                    file.Stream.Write(expected, at, Math.Min(100_003, expected.Length - at));
                file.Stream.Position = 16;
                byte[] header = [1, 2, 3, 4, 5, 6, 7, 8];
                file.Stream.Write(header);
                header.CopyTo(expected, 16);
                file.Commit();
            }
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(expected));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
