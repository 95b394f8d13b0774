using System.Text.Json;

namespace Became.Agent.Tests.Agent;

/// <summary>The agent configured with <c>Model:Architecture=alexnet:0.125</c> and SGP: the whole MQTT loop, on real
/// Fashion-MNIST split tasks of 300 images.</summary>
[Trait("Speed", "Slow")]
public sealed class AlexNetAgentTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(300);

    [Fact]
    public async Task Agent_learns_and_deploys_tasks_on_an_alexnet_with_sgp()
    {
        await using var agent = await AgentHarness.StartAsync(
            epochs: 2,
            extraArgs: ["--Model:Architecture=alexnet:0.125", "--Model:InputShape:0=1", "--Model:InputShape:1=28", "--Model:InputShape:2=28", "--Training:Projection=sgp", "--Training:BatchSize=32"]);
        await agent.PublishTaskAsync("t0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("t1", AgentHarness.SplitTask(1, 300));

        var deployed = await agent.WaitForAsync("model.deployed", "t1", Patience);

        var accuracy = deployed.GetProperty("accuracy");
        Assert.True(accuracy.GetProperty("t0").GetDouble() > 60, accuracy.GetRawText());
        Assert.True(accuracy.GetProperty("t1").GetDouble() > 60, accuracy.GetRawText());
        Assert.Equal(5, deployed.GetProperty("memoryRanks").GetArrayLength());
        Assert.Equal(["t0", "t1"], agent.Deployed.Current.TaskIds);
        var model = Core.Serialization.SafeTensorsFile.Parse(agent.Store.Blobs.Get(agent.Store.Deployed()!.ModelBlob));
        using var architecture = JsonDocument.Parse(model.Metadata["architecture"]);
        Assert.Equal("alexnet", architecture.RootElement.GetProperty("kind").GetString());
        Assert.Contains(model.Tensors, t => t.Name == "conv1.weight");
    }
}
