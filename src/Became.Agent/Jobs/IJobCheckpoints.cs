namespace Became.Agent.Jobs;

/// <summary>
/// Named points in a job where a test may hold the worker (to kill the process there); the agent registers
/// <see cref="NoCheckpoints"/>, and only the test harness another (tests/Became.TestAgent's pause for the crash tests).
/// </summary>
public interface IJobCheckpoints
{
    /// <summary>In stage 1, after its first epoch.</summary>
    const string Stage1 = "stage1";

    /// <summary>In stage 2, after its first epoch.</summary>
    const string Stage2 = "stage2";

    /// <summary>Inside the LiteDB transaction of the commit, after the blobs are written, before it commits (the store's
    /// <c>IStorageFaults.BeforeCommit</c> seam, not a call of the job's).</summary>
    const string Commit = "commit";

    /// <summary>After the commit, before the deployed model is swapped in memory.</summary>
    const string Swap = "swap";

    /// <summary>Called on the job's thread as it passes <paramref name="point"/>; may block it.</summary>
    void Reached(string point, string taskId, CancellationToken cancellationToken);
}

/// <summary>The production checkpoints: none.</summary>
public sealed class NoCheckpoints : IJobCheckpoints
{
    public static readonly NoCheckpoints Instance = new();

    public void Reached(string point, string taskId, CancellationToken cancellationToken)
    {
    }
}
