namespace Became.Agent.Storage;

/// <summary>
/// A seam for storage failures that cannot be provoked on demand without root (a full disk): called before every
/// blob write. The agent registers none; tests register one that throws the <see cref="IOException"/> a full disk
/// gives, so the commit path, the retry and the events are exercised exactly as with a real ENOSPC.
/// </summary>
public interface IStorageFaults
{
    /// <summary>Throws to make the write of <paramref name="bytes"/> bytes to <paramref name="path"/> fail.</summary>
    void BeforeWrite(string path, long bytes);
}

/// <summary>The default: no injected failures.</summary>
public sealed class NoStorageFaults : IStorageFaults
{
    public static readonly NoStorageFaults Instance = new();

    public void BeforeWrite(string path, long bytes)
    {
    }
}
