using System.Buffers.Binary;
using System.IO.Compression;

namespace Became.Core.Tests.Data;

/// <summary>A temporary directory removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "became-data-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Writes crafted IDX files and MNIST-format directories for tests.</summary>
internal static class IdxTestFiles
{
    public static byte[] Encode(int[] shape, byte[] data, byte type = 0x08)
    {
        var bytes = new byte[4 + 4 * shape.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)shape.Length;
        for (var i = 0; i < shape.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), shape[i]);
        }

        data.CopyTo(bytes, 4 + 4 * shape.Length);
        return bytes;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }

        return buffer.ToArray();
    }

    /// <summary>A gzip MNIST-format directory: <paramref name="train"/>/<paramref name="test"/> images of height×width with labels i % classes.</summary>
    public static void WriteDataset(string directory, int train, int test, int height = 4, int width = 5, int classes = 10)
    {
        var random = new Random(7);
        foreach (var (prefix, count) in new[] { ("train", train), ("t10k", test) })
        {
            var pixels = new byte[count * height * width];
            random.NextBytes(pixels);
            var labels = Enumerable.Range(0, count).Select(i => (byte)(i % classes)).ToArray();
            File.WriteAllBytes(Path.Combine(directory, $"{prefix}-images-idx3-ubyte.gz"), Gzip(Encode([count, height, width], pixels)));
            File.WriteAllBytes(Path.Combine(directory, $"{prefix}-labels-idx1-ubyte.gz"), Gzip(Encode([count], labels)));
        }
    }
}
