using System.Diagnostics;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Faults;

/// <summary>A real full disk (a small tmpfs as the data directory, filled with ballast): the commit fails with ENOSPC,
/// the deployed model stays, and the job succeeds once the ballast is deleted.</summary>
[Trait("Speed", "Slow")]
public sealed class RealDiskFullTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [TmpfsFact]
    public async Task Commit_on_a_full_tmpfs_fails_cleanly_and_succeeds_once_space_is_back()
    {
        using var tmpfs = SmallTmpfs.Mount(megabytes: 8);
        await using (var agent = await AgentHarness.StartAsync(dataDirectory: Path.Combine(tmpfs.MountPoint, "agent"), extraArgs: ["--Jobs:RetryInitialSeconds=1", "--Jobs:RetryMaxSeconds=2"]))
        {
            await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
            await agent.WaitForAsync("model.deployed", "t0", Patience);

            // Room for the next task's payload (235 KB) and a few database pages, not for the new model (about 350 KB).
            tmpfs.FillLeaving(400 * 1024);
            await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));
            var failed = await agent.WaitForAsync("job.failed", "t1", Patience);

            Assert.Contains("No space left on device", failed.GetProperty("reason").GetString());
            Assert.True(failed.GetProperty("retry").GetBoolean());
            Assert.Equal(1, agent.Deployed.Current.Version);
            Assert.Equal(1, agent.Store.Deployed()?.Version);
            Assert.Equal(TaskState.Queued, agent.Store.FindTask("t1")!.State);
            Assert.Empty(Directory.EnumerateFiles(agent.Store.Blobs.Directory, ".*"));

            tmpfs.Free();
            var clock = Stopwatch.StartNew();
            var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);
            Assert.Equal(2, deployed.GetProperty("version").GetInt32());
            Assert.Equal(TaskState.Learned, agent.Store.FindTask("t1")!.State);
            output.WriteLine($"ENOSPC: {failed.GetProperty("reason").GetString()}; learned {clock.Elapsed.TotalSeconds:F1} s after space came back");
        }
    }

    [TmpfsFact]
    public async Task Completely_full_disk_fails_even_the_database_writes_and_the_job_succeeds_once_space_is_back()
    {
        using var tmpfs = SmallTmpfs.Mount(megabytes: 8);
        await using var agent = await ChildAgent.CreateAsync(Path.Combine(tmpfs.MountPoint, "agent"));
        await agent.StartAsync("stage1:t1", "--Jobs:RetryInitialSeconds=1", "--Jobs:RetryMaxSeconds=2");
        await agent.PublishAsync(("t0", AgentHarness.SplitTask(0, 300)), ("t1", AgentHarness.SplitTask(1, 300)));
        await agent.WaitForPauseAsync(Patience);

        // Not one byte left: the commit's blobs and the database's own writes (recording the retry) both fail.
        tmpfs.FillLeaving(0);
        agent.Release();
        await agent.WaitForEventAsync(e => ChildAgent.Type(e) == "job.failed" && e.GetProperty("attempt").GetInt32() == 2, Patience, "a second failed attempt");
        var status = await agent.WaitForStatusAsync(s => s.GetProperty("lastError").GetString()?.Contains("No space left", StringComparison.Ordinal) == true, Patience, "the failure in the status");
        Assert.Equal(1, status.GetProperty("deployedVersion").GetInt32());

        tmpfs.Free();
        var clock = Stopwatch.StartNew();
        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);
        Assert.Equal(2, deployed.GetProperty("version").GetInt32());
        var learned = clock.Elapsed;
        await agent.StopAsync();
        using (var store = agent.OpenStore())
        {
            Assert.Equal(["t0", "t1"], store.Versions().Select(v => v.TaskId));
            Assert.Equal(2, store.Deployed()!.Version);
            Assert.All(store.AllTasks(), t => Assert.Equal(TaskState.Learned, t.State));
        }

        output.WriteLine($"learned {learned.TotalSeconds:F1} s after space came back; agent log of the failures:\n{string.Join('\n', agent.Output.Split('\n').Where(l => l.Contains("fail", StringComparison.OrdinalIgnoreCase)).Take(12))}");
    }
}
