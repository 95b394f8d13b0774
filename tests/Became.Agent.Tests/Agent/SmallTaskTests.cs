using Became.Core.Serialization;

namespace Became.Agent.Tests.Agent;

/// <summary>Tasks too small to hold out a test set: refused at intake, and the agent goes on learning.</summary>
[Trait("Speed", "Slow")]
public sealed class SmallTaskTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    private static byte[] WithTestFraction(byte[] payload, string testFraction)
    {
        var file = SafeTensorsFile.Parse(payload);
        var metadata = file.Metadata.ToDictionary(StringComparer.Ordinal);
        metadata["test_fraction"] = testFraction;
        return SafeTensorsFile.Write([.. file.Tensors], metadata);
    }

    [Fact]
    public async Task Task_too_small_for_a_test_set_is_rejected_and_the_next_task_is_learned_and_deployed()
    {
        await using var agent = await AgentHarness.StartAsync();

        // 9 samples at the default test fraction 0.1 hold out none: the accuracy of an empty set is 0/0.
        await agent.PublishTaskAsync("tiny", AgentHarness.SplitTask(0, 9));
        var tiny = await agent.WaitForAsync("task.rejected", "tiny", Patience);
        await agent.PublishTaskAsync("no-test", WithTestFraction(AgentHarness.SplitTask(0, 300), "0"));
        var noTest = await agent.WaitForAsync("task.rejected", "no-test", Patience);
        await agent.PublishTaskAsync("good", AgentHarness.SplitTask(1, 300));
        var deployed = await agent.WaitForAsync("model.deployed", "good", Patience);
        await agent.PublishTaskAsync("next", AgentHarness.SplitTask(2, 300));
        await agent.WaitForAsync("model.deployed", "next", Patience);

        Assert.Equal("too_small", tiny.GetProperty("reason").GetString());
        Assert.Contains("send at least 10 samples", tiny.GetProperty("message").GetString());
        Assert.Equal("bad_metadata", noTest.GetProperty("reason").GetString());
        Assert.Contains("(0, 0.5]", noTest.GetProperty("message").GetString());
        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
        Assert.DoesNotContain(agent.Events, e => AgentHarness.Type(e) == "job.failed");
        Assert.Null(agent.Store.FindTask("tiny"));
        Assert.All(agent.Store.Versions(), v => Assert.All(v.Accuracy.Values, a => Assert.True(double.IsFinite(a))));
    }
}
