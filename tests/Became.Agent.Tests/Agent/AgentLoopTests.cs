using System.Text.Json;
using Became.Agent.Deployment;
using Became.Core.Native;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Became.Agent.Configuration;
using static TorchSharp.torch;

namespace Became.Agent.Tests.Agent;

/// <summary>The whole loop on the embedded broker: MQTT task -> durable job -> two-stage training -> deployed model.</summary>
[Trait("Speed", "Slow")]
public sealed class AgentLoopTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Published_tasks_are_learned_and_deployed_with_accuracy_above_chance_on_every_task()
    {
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));

        await agent.WaitForAsync("task.accepted", "t0");
        await agent.WaitForAsync("model.merged", "t1", Patience);
        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);

        Assert.Equal(2, deployed.GetProperty("version").GetInt32());
        var accuracy = deployed.GetProperty("accuracy");
        Assert.True(accuracy.GetProperty("t0").GetDouble() > 60, accuracy.GetRawText());
        Assert.True(accuracy.GetProperty("t1").GetDouble() > 60, accuracy.GetRawText());
        Assert.Equal(2, agent.Deployed.Current.Version);
        Assert.Equal(["t0", "t1"], agent.Deployed.Current.TaskIds);
        Assert.Contains(agent.Events, e => AgentHarness.Type(e) == "training.progress" && e.GetProperty("stage").GetInt32() == 2);
    }

    [Fact]
    public async Task Restart_brings_back_the_deployed_version_memory_and_Fisher()
    {
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("a", AgentHarness.SplitTask(2, 200));
        await agent.PublishTaskAsync("b", AgentHarness.SplitTask(3, 200));
        var deployed = await agent.WaitForAsync("model.deployed", "b", Patience);
        int[] trainedRanks = deployed.GetProperty("memoryRanks").EnumerateArray().Select(r => r.GetInt32()).ToArray();
        var before = Snapshot(agent);

        await agent.RestartAsync();

        var after = Snapshot(agent);
        Assert.Equal(2, agent.Deployed.Current.Version);
        Assert.Equal(trainedRanks, after.Ranks);
        Assert.Contains(after.Tensors.Keys, k => k.StartsWith("fisher.", StringComparison.Ordinal));
        Assert.Contains(after.Tensors.Keys, k => k.StartsWith("memory.", StringComparison.Ordinal));
        Assert.Equal(before.Tensors.Keys.Order(), after.Tensors.Keys.Order());
        foreach (var (name, values) in before.Tensors)
        {
            Assert.Equal(values, after.Tensors[name]);
        }
    }

    [Fact]
    public async Task Same_tasks_give_the_same_model_in_a_fresh_agent()
    {
        // libtorch seeds its global generator differently in every process and tests in parallel draw from it:
        // the agent's network and learner use generators of their own, seeded per version.
        var runs = new List<Dictionary<string, float[]>>();
        for (int run = 0; run < 2; run++)
        {
            await using var agent = await AgentHarness.StartAsync();
            await agent.PublishTaskAsync("p", AgentHarness.SplitTask(0, 200));
            await agent.PublishTaskAsync("q", AgentHarness.SplitTask(1, 200));
            await agent.WaitForAsync("model.deployed", "q", Patience);
            runs.Add(Snapshot(agent).Tensors);
        }

        Assert.Equal(runs[0].Keys.Order(), runs[1].Keys.Order());
        foreach (var (name, values) in runs[0])
        {
            Assert.True(values.SequenceEqual(runs[1][name]), $"{name} differs between two agents fed the same tasks");
        }
    }

    [Fact]
    public async Task Malformed_payload_is_rejected_with_a_reason_and_the_next_valid_task_is_learned()
    {
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("garbage", "this is not safetensors"u8.ToArray());
        await agent.PublishTaskAsync("good", AgentHarness.SplitTask(4, 200));

        var rejected = await agent.WaitForAsync("task.rejected", "garbage");
        var deployed = await agent.WaitForAsync("model.deployed", "good", Patience);

        Assert.Equal("not_safetensors", rejected.GetProperty("reason").GetString());
        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Duplicate_task_id_is_learned_once()
    {
        await using var agent = await AgentHarness.StartAsync();
        byte[] payload = AgentHarness.SplitTask(0, 200);
        await agent.PublishTaskAsync("same", payload);
        await agent.WaitForAsync("model.deployed", "same", Patience);

        await agent.PublishTaskAsync("same", payload);
        await agent.WaitForAsync("task.duplicate", "same");

        Assert.Single(agent.Store.Versions());
        Assert.Single(agent.Events, e => AgentHarness.Type(e) == "task.accepted");
    }

    [Fact]
    public async Task Job_interrupted_by_shutdown_stays_queued_and_is_learned_after_restart()
    {
        // About 10 s of training: long enough to be stopped in the middle.
        await using var agent = await AgentHarness.StartAsync(epochs: 60);
        await agent.PublishTaskAsync("long", AgentHarness.SplitTask(1, 6000));
        await agent.WaitForAsync("training.progress", "long");

        await agent.StopAgentAsync();
        using (var store = new Became.Agent.Storage.AgentStore(agent.DataDirectory))
        {
            Assert.Null(store.Deployed());
            Assert.Equal("long", Assert.Single(store.QueuedTasks()).Id);
        }

        await agent.RestartAsync(epochs: 1);
        var deployed = await agent.WaitForAsync("model.deployed", "long", Patience);
        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
    }

    /// <summary>Deployed learner state as plain arrays: memory ranks and every stored tensor.</summary>
    internal static (int[] Ranks, Dictionary<string, float[]> Tensors) Snapshot(AgentHarness agent)
    {
        var options = agent.Host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        using var session = ModelFiles.Open(options, agent.Store.Deployed(), agent.Store.Blobs, ComputeDevice.Cpu);
        var state = Core.Training.LearnerCheckpoint.Export(session.Learner);
        try
        {
            return (session.Learner.Memory.Ranks, state.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray()));
        }
        finally
        {
            foreach (var t in state.Values)
            {
                t.Dispose();
            }
        }
    }
}
