namespace Became.Core.IO;

/// <summary>Writes a file so a crash leaves either the old content or the new, never a torn file.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="bytes"/>: writes a temporary file in the same folder,
    /// flushes it to disk, then renames it over the target.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var target = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(target) ?? throw new ArgumentException($"{path} has no parent folder", nameof(path));
        var temp = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }

            throw;
        }

        // The rename itself is made durable by an fsync of the folder, but .NET refuses to open a directory
        // (File.OpenHandle throws UnauthorizedAccessException on Linux) and has no other clean way, so that
        // step is skipped: after a power cut the folder may still show the old file, never a torn one.
    }
}
