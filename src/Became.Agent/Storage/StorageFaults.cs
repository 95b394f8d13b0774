namespace Became.Agent.Storage;

/// <summary>
/// A seam for storage failures that cannot be provoked on demand without root (a full disk), and for the moment inside
/// a commit where a crash test kills the process: called before every blob write and before a task's commit
/// transaction commits. The agent registers <see cref="NoStorageFaults"/>; only the test harness registers others (one
/// that throws the <see cref="IOException"/> a full disk gives, one that holds the commit until the process is killed).
/// </summary>
public interface IStorageFaults
{
    /// <summary>Throws to make the write of <paramref name="bytes"/> bytes to <paramref name="path"/> fail.</summary>
    void BeforeWrite(string path, long bytes);

    /// <summary>Inside the commit of <paramref name="taskId"/>'s version, its blobs written, before the transaction commits; may block or throw.</summary>
    void BeforeCommit(string taskId);
}

/// <summary>The default: no injected failures.</summary>
public sealed class NoStorageFaults : IStorageFaults
{
    public static readonly NoStorageFaults Instance = new();

    public void BeforeWrite(string path, long bytes)
    {
    }

    public void BeforeCommit(string taskId)
    {
    }
}
