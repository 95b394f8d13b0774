using Became.Agent.Storage;
using Became.Agent.Tests.Agent;

namespace Became.Agent.Tests.Faults;

/// <summary>A failure after a task's commit (here: its new model file damaged before it is loaded) never marks the
/// committed task failed.</summary>
[Trait("Speed", "Slow")]
public sealed class AfterCommitFailureTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Failure_after_the_commit_keeps_the_task_learned_and_the_served_model()
    {
        await using var agent = await ChildAgent.CreateAsync();
        await agent.StartAsync("swap:t1");
        await agent.PublishAsync(("t0", AgentHarness.SplitTask(0, 200)));
        await agent.WaitForAsync("model.deployed", "t0", Patience);
        var before = Directory.GetFiles(Path.Combine(agent.DataDirectory, "blobs")).ToHashSet(StringComparer.Ordinal);
        byte[] payload = AgentHarness.SplitTask(1, 200);
        await agent.PublishAsync(("t1", payload));

        // Paused after the commit, before the swap: the files the commit wrote are the new blobs other than the payload.
        await agent.WaitForPauseAsync(Patience);
        string payloadBlob = Path.Combine(agent.DataDirectory, "blobs", BlobStore.Hash(payload));
        var written = Directory.GetFiles(Path.Combine(agent.DataDirectory, "blobs")).Where(f => !before.Contains(f) && f != payloadBlob && !Path.GetFileName(f).StartsWith('.')).ToList();
        Assert.Equal(3, written.Count);
        written.ForEach(FileDamage.Flip);
        agent.Release();

        var corrupt = await agent.WaitForAsync("model.corrupt", "t1", Patience);
        await agent.WaitForStatusAsync(s => s.GetProperty("state").GetString() == "idle" && s.GetProperty("deployedVersion").GetInt32() == 1, Patience, "idle, serving version 1");
        await agent.StopAsync();

        Assert.Equal(2, corrupt.GetProperty("version").GetInt32());
        Assert.Equal(1, corrupt.GetProperty("fallbackVersion").GetInt32());
        Assert.DoesNotContain(agent.Events, e => ChildAgent.Type(e) == "job.failed");
        using var store = agent.OpenStore();
        var t1 = store.FindTask("t1")!;
        Assert.Equal(TaskState.Learned, t1.State);
        Assert.Equal(2, t1.Version);
        Assert.Equal(1, store.Deployed()!.Version);
        Assert.NotNull(store.FindVersion(2)!.Corrupt);
    }

    [Fact]
    public async Task Payload_that_cannot_be_removed_after_the_commit_does_not_fail_the_job()
    {
        await using var agent = await ChildAgent.CreateAsync();
        await agent.StartAsync("commit:t1");
        byte[] payload = AgentHarness.SplitTask(1, 200);
        await agent.PublishAsync(("t1", payload));

        // Paused inside the commit's transaction: the payload's blob becomes something File.Delete refuses (a folder).
        await agent.WaitForPauseAsync(Patience);
        string payloadBlob = Path.Combine(agent.DataDirectory, "blobs", BlobStore.Hash(payload));
        File.Delete(payloadBlob);
        Directory.CreateDirectory(Path.Combine(payloadBlob, "busy"));
        agent.Release();

        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);
        await agent.WaitForStatusAsync(s => s.GetProperty("state").GetString() == "idle", Patience, "idle");
        await agent.StopAsync();

        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
        Assert.DoesNotContain(agent.Events, e => ChildAgent.Type(e) == "job.failed");
        using var store = agent.OpenStore();
        Assert.Equal(TaskState.Learned, store.FindTask("t1")!.State);
        Assert.Equal(1, store.Deployed()!.Version);
    }
}
