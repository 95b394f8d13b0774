using Became.Agent.Tests.Agent;
using Became.Agent.Tests.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Security;

/// <summary>The agent acts only on became/{its DeviceId}/...; other devices' messages never reach it or are ignored.</summary>
[Trait("Speed", "Slow")]
public sealed class TopicIsolationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Task_and_request_under_another_device_id_are_ignored()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(broker.Port);
        using var client = new MqttClientFactory().CreateMqttClient();
        var replies = 0;
        client.ApplicationMessageReceivedAsync += _ =>
        {
            Interlocked.Increment(ref replies);
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await client.SubscribeAsync("test/replies", MqttQualityOfServiceLevel.AtLeastOnce);

        // Same publisher, QoS 1: the broker delivers in this order, so once own-0 is accepted the others were seen if they ever would be.
        await client.PublishAsync(Message($"became/{agent.DeviceId}x/tasks/foreign-0", AgentHarness.SplitTask(0, 100)));
        await client.PublishAsync(Message($"became/other-{agent.DeviceId}/infer", "{\"taskId\":\"a\",\"inputs\":[]}"u8.ToArray(), "test/replies"));
        await client.PublishAsync(Message($"became/{agent.DeviceId}/tasks/own-0", AgentHarness.SplitTask(0, 100)));
        await agent.WaitForAsync("task.accepted", "own-0", Patience);

        Assert.Null(agent.Store.FindTask("foreign-0"));
        Assert.DoesNotContain(agent.Events, e => e.GetProperty("taskId").GetString() == "foreign-0");
        Assert.Equal(0, Volatile.Read(ref replies));
    }

    [Fact]
    public async Task Stale_session_of_an_earlier_device_id_does_not_make_the_agent_act_for_that_device()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        string clientId = "shared-" + Guid.NewGuid().ToString("N")[..8];
        await using var earlier = await AgentHarness.StartAsync(broker.Port, extraArgs: [$"--Broker:ClientId={clientId}"]);
        await earlier.StopAgentAsync();

        // Same client id, new device id: the broker's session still holds the earlier device's subscriptions.
        await using var agent = await AgentHarness.StartAsync(broker.Port, extraArgs: [$"--Broker:ClientId={clientId}"]);
        await earlier.PublishTaskAsync("stale-0", AgentHarness.SplitTask(0, 100));
        await agent.PublishTaskAsync("fresh-0", AgentHarness.SplitTask(0, 100));
        await agent.WaitForAsync("task.accepted", "fresh-0", Patience);

        // Without the guard the stale message would be handled as a task with a malformed id (a task.rejected event).
        Assert.Null(agent.Store.FindTask("stale-0"));
        Assert.All(agent.Events, e => Assert.Equal("fresh-0", e.GetProperty("taskId").GetString()));
        Assert.Empty(earlier.Events);
    }

    [Fact]
    public async Task Task_over_twice_the_payload_limit_is_never_delivered_and_the_agent_goes_on()
    {
        await using var broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, NullLoggerFactory.Instance);
        await using var agent = await AgentHarness.StartAsync(broker.Port, extraArgs: ["--Limits:MaxPayloadBytes=1048576", "--Limits:MaxRequestBytes=1048576"]);

        // 3.6 MB: the broker drops it for the agent (MQTT 5 Maximum Packet Size = 2 MiB + 64 KiB), so it is never allocated there.
        await agent.PublishTaskAsync("huge-0", AgentHarness.SplitTask(0, 4600));
        await agent.PublishTaskAsync("small-0", AgentHarness.SplitTask(0, 100));
        await agent.WaitForAsync("task.accepted", "small-0", Patience);

        Assert.Null(agent.Store.FindTask("huge-0"));
        Assert.DoesNotContain(agent.Events, e => e.GetProperty("taskId").GetString() == "huge-0");
    }

    private static MqttApplicationMessage Message(string topic, byte[] payload, string? responseTopic = null)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic is not null)
        {
            builder.WithResponseTopic(responseTopic).WithCorrelationData([1, 2, 3]);
        }

        return builder.Build();
    }
}
