using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;

namespace Became.Agent.Tests.Agent;

/// <summary>The agent against Debian's mosquitto (persistence on), started by the test on a free port.</summary>
[Trait("Speed", "Slow")]
public sealed class AgentOnMosquittoTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Tasks_are_learned_through_a_real_mosquitto_broker()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(broker.Port);

        await agent.PublishTaskAsync("m0", AgentHarness.SplitTask(0, 300));
        await agent.PublishTaskAsync("m1", AgentHarness.SplitTask(1, 300));
        var deployed = await agent.WaitForAsync("model.deployed", "m1", Patience);

        Assert.Equal(2, deployed.GetProperty("version").GetInt32());
        Assert.True(deployed.GetProperty("accuracy").GetProperty("m0").GetDouble() > 60);
        Assert.True(deployed.GetProperty("accuracy").GetProperty("m1").GetDouble() > 60);
    }

    [Fact]
    public async Task Task_published_while_the_agent_is_down_is_learned_after_it_comes_back()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(broker.Port);
        await agent.StopAgentAsync();

        // The agent's persistent session keeps this QoS 1 message at the broker while nobody is connected.
        await agent.PublishTaskAsync("while-down", AgentHarness.SplitTask(2, 300));
        Assert.DoesNotContain(agent.Events, e => AgentHarness.Type(e) == "task.accepted");
        await agent.StartAgentAsync(broker.Port);

        var deployed = await agent.WaitForAsync("model.deployed", "while-down", Patience);
        Assert.Equal(1, deployed.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Agent_reports_offline_in_its_retained_status_when_it_stops()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(broker.Port);
        Assert.Equal("idle", (await agent.ReadStatusAsync()).GetProperty("state").GetString());

        await agent.StopAgentAsync();

        Assert.Equal("offline", (await agent.ReadStatusAsync()).GetProperty("state").GetString());
    }
}
