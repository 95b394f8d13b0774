using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Testing;

/// <summary>Sends one MQTT 5 request to an agent and waits for the reply on a private response topic.</summary>
internal static class MqttRequest
{
    /// <param name="agent">The agent (its broker and device id).</param>
    /// <param name="suffix">The request topic below became/{deviceId}/, e.g. infer.</param>
    /// <param name="payload">The request.</param>
    /// <param name="timeout">How long to wait for the reply (30 s by default).</param>
    public static async Task<MqttApplicationMessage> SendAsync(AgentHarness agent, string suffix, byte[] payload, TimeSpan? timeout = null)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var reply = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        byte[] correlation = Guid.NewGuid().ToByteArray();
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.CorrelationData is { } c && c.SequenceEqual(correlation))
            {
                reply.TrySetResult(e.ApplicationMessage);
            }

            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(agent.BrokerHost, agent.BrokerPort).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("req-" + Guid.NewGuid().ToString("N")).Build());
        string responseTopic = $"test/{Guid.NewGuid():N}/reply";
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"became/{agent.DeviceId}/{suffix}")
            .WithPayload(payload)
            .WithResponseTopic(responseTopic)
            .WithCorrelationData(correlation)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

        var message = await reply.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        await client.DisconnectAsync();
        return message;
    }
}
