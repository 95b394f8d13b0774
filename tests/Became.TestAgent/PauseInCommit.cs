using Became.Agent.Jobs;
using Became.Agent.Storage;

namespace Became.TestAgent;

/// <summary>The store's seam holding the commit transaction at the <c>commit</c> pause point; no storage faults.</summary>
internal sealed class PauseInCommit(TestPause pause) : IStorageFaults
{
    public void BeforeWrite(string path, long bytes)
    {
    }

    public void BeforeCommit(string taskId) => pause.Reached(IJobCheckpoints.Commit, taskId, CancellationToken.None);
}
