using System.Security.Cryptography;

namespace Became.Agent.Storage;

/// <summary>
/// Content-addressed files (name = sha256 of the bytes), written temp file -> fsync -> rename, so a blob
/// is either whole or absent and writing the same bytes twice is harmless. LiteDB holds only the names.
/// </summary>
public sealed class BlobStore
{
    private readonly IStorageFaults _faults;

    public BlobStore(string directory, IStorageFaults faults)
    {
        Directory = directory;
        _faults = faults;
        System.IO.Directory.CreateDirectory(directory);
    }

    public string Directory { get; }

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Stores the bytes durably and returns their name.</summary>
    public string Put(ReadOnlySpan<byte> bytes)
    {
        string name = Hash(bytes);
        string path = PathOf(name);
        if (File.Exists(path) && new FileInfo(path).Length == bytes.Length)
        {
            return name;
        }

        _faults.BeforeWrite(path, bytes.Length);
        Became.Core.IO.AtomicFile.Write(path, bytes);
        return name;
    }

    /// <summary>Reads a blob and checks it still hashes to its name.</summary>
    public byte[] Get(string name)
    {
        byte[] bytes = File.ReadAllBytes(PathOf(name));
        if (Hash(bytes) != name)
        {
            throw new InvalidDataException($"Blob {name} is corrupt (its content no longer matches its hash).");
        }

        return bytes;
    }

    public bool Exists(string name) => File.Exists(PathOf(name));

    public void Delete(string name) => File.Delete(PathOf(name));

    /// <summary>Deletes blobs and leftover temp files that no record names (after a crash between write and commit).</summary>
    public int Collect(IReadOnlySet<string> referenced)
    {
        int removed = 0;
        foreach (string file in System.IO.Directory.EnumerateFiles(Directory))
        {
            string name = Path.GetFileName(file);
            if (name.StartsWith('.') || !referenced.Contains(name))
            {
                File.Delete(file);
                removed++;
            }
        }

        return removed;
    }

    private string PathOf(string name)
    {
        if (name.Length != 64 || !name.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException($"'{name}' is not a blob name.", nameof(name));
        }

        return Path.Combine(Directory, name);
    }
}
