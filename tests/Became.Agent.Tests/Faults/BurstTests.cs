using System.Diagnostics;
using Became.Agent.Storage;
using Became.Agent.Tests.Agent;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Faults;

/// <summary>Many small tasks published at once to the real agent process: all accepted up to the queue limit, the
/// excess refused with a reason, the queue visible in the status, learned in order, memory bounded.</summary>
[Trait("Speed", "Slow")]
public sealed class BurstTests(ITestOutputHelper output)
{
    private const int Burst = 50;

    // Small tasks (60 images, 1 epoch) so fifty of them are learned in about a minute.
    private const int Samples = 60;

    // Measured: about 260 MiB peak (queued payloads wait on disk, not in memory); twice that is the bound.
    private const long PeakRssBound = 512L * 1024 * 1024;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(600);

    private static (string, byte[])[] Tasks(string prefix, int count) =>
        Enumerable.Range(0, count).Select(i => ($"{prefix}{i:D2}", AgentHarness.SplitTask(i % 5, Samples))).ToArray();

    [Fact]
    public async Task Burst_of_50_tasks_is_accepted_and_learned_in_order_with_bounded_memory()
    {
        await using var agent = await ChildAgent.CreateAsync();

        // The worker holds the first task until the whole burst is queued: the queue reaches its full length.
        await agent.StartAsync(pauseAt: "stage1:b00", "--Training:Epochs=1", "--Gate:Enabled=false");
        long idleRss = agent.PeakRssBytes();
        var tasks = Tasks("b", Burst);
        await agent.PublishAsync(tasks);
        await agent.WaitForPauseAsync(Patience);
        var queued = await agent.WaitForStatusAsync(s => s.GetProperty("queueLength").GetInt32() == Burst, Patience, $"queue length {Burst} in the status");
        Assert.Equal(Burst, agent.Events.Count(e => ChildAgent.Type(e) == "task.accepted"));
        Assert.DoesNotContain(agent.Events, e => ChildAgent.Type(e) == "task.rejected");
        long queuedRss = agent.PeakRssBytes();

        var clock = Stopwatch.StartNew();
        agent.Release();
        await agent.WaitForStatusAsync(s => s.GetProperty("deployedVersion").GetInt32() == Burst && s.GetProperty("queueLength").GetInt32() == 0 && s.GetProperty("state").GetString() == "idle", Patience, $"version {Burst} deployed");
        var learning = clock.Elapsed;
        long peakRss = agent.PeakRssBytes();
        await agent.StopAsync();

        var deployedOrder = agent.Events.Where(e => ChildAgent.Type(e) == "model.deployed").Select(e => e.GetProperty("taskId").GetString()).ToArray();
        Assert.Equal(tasks.Select(t => t.Item1), deployedOrder);
        using (var store = agent.OpenStore())
        {
            Assert.Equal(tasks.Select(t => t.Item1), store.Versions().OrderBy(v => v.Version).Select(v => v.TaskId));
            Assert.All(store.AllTasks(), t => Assert.Equal(TaskState.Learned, t.State));
            Assert.Equal(Burst, store.Deployed()!.TaskIds.Length);
        }

        Assert.True(peakRss < PeakRssBound, $"peak RSS {peakRss / 1048576} MiB");
        output.WriteLine($"burst of {Burst} x {Samples} samples: peak RSS at start {idleRss / 1048576} MiB; queue length {queued.GetProperty("queueLength").GetInt32()} in status; RSS with all queued {queuedRss / 1048576} MiB; learned in {learning.TotalSeconds:F1} s ({learning.TotalSeconds / Burst:F2} s/task); peak RSS {peakRss / 1048576} MiB");
    }

    [Fact]
    public async Task Tasks_beyond_the_queue_limit_are_rejected_with_queue_full()
    {
        await using var agent = await ChildAgent.CreateAsync();
        await agent.StartAsync(pauseAt: "stage1:q00", "--Limits:MaxQueuedTasks=5", "--Training:Epochs=1", "--Gate:Enabled=false");
        var tasks = Tasks("q", 8);
        await agent.PublishAsync(tasks);
        await agent.WaitForPauseAsync(Patience);

        for (int i = 5; i < 8; i++)
        {
            var rejected = await agent.WaitForAsync("task.rejected", $"q{i:D2}", Patience);
            Assert.Equal("queue_full", rejected.GetProperty("reason").GetString());
            Assert.Contains("Limits:MaxQueuedTasks = 5", rejected.GetProperty("message").GetString());
        }

        Assert.Equal(["q00", "q01", "q02", "q03", "q04"], agent.Events.Where(e => ChildAgent.Type(e) == "task.accepted").Select(e => e.GetProperty("taskId").GetString()));
        await agent.WaitForStatusAsync(s => s.GetProperty("queueLength").GetInt32() == 5, Patience, "queue length 5 in the status");

        // Once the queue drains, a refused task is accepted when sent again.
        agent.Release();
        await agent.WaitForStatusAsync(s => s.GetProperty("deployedVersion").GetInt32() == 5 && s.GetProperty("queueLength").GetInt32() == 0, Patience, "the five queued tasks learned");
        await agent.PublishAsync(tasks[5]);
        var deployed = await agent.WaitForAsync("model.deployed", "q05", Patience);
        Assert.Equal(6, deployed.GetProperty("version").GetInt32());
    }
}
