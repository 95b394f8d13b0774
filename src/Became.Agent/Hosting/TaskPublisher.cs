using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Agent.Hosting;

/// <summary>Sends task payloads to a device's task topic at QoS 1, as any external MQTT client would.</summary>
public static class TaskPublisher
{
    public static async Task PublishAsync(string host, int port, string topicRoot, string deviceId, IEnumerable<(string TaskId, byte[] Payload)> tasks, TextWriter log, CancellationToken cancellationToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithClientId($"became-publish-{Guid.NewGuid():N}")
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build();
        var connected = await client.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        if (connected.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new IOException($"The broker at {host}:{port} refused the connection: {connected.ResultCode} {connected.ReasonString}");
        }

        foreach (var (taskId, payload) in tasks)
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic($"{topicRoot}/{deviceId}/tasks/{taskId}")
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var result = await client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                throw new IOException($"Publishing {taskId} failed: {result.ReasonCode} {result.ReasonString}");
            }

            await log.WriteLineAsync($"published {taskId} ({payload.Length / 1024.0 / 1024.0:F1} MiB) to {message.Topic}").ConfigureAwait(false);
        }

        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), cancellationToken).ConfigureAwait(false);
    }
}
