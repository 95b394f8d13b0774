using System.Buffers.Binary;
using System.Collections.Concurrent;
using Became.Agent.Mqtt;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Cli.Tools;

/// <summary>One MQTT 5 client that keeps many infer requests in flight, matching replies by correlation data.</summary>
internal sealed class InferBenchMqtt : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly string _requestTopic;
    private readonly string _responseTopic;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<bool>> _pending = new();
    private long _next;

    private InferBenchMqtt(IMqttClient client, string topicRoot, string device)
    {
        _client = client;
        _requestTopic = $"{topicRoot}/{device}/infer";
        _responseTopic = RequestCommands.ResponseTopic(topicRoot, device);
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            if (message.CorrelationData is { Length: 8 } correlation && _pending.TryRemove(BinaryPrimitives.ReadInt64LittleEndian(correlation), out var reply))
            {
                // A reply carrying an error user property is an answered request that failed.
                reply.TrySetResult(message.UserProperties?.Any(p => p.Name == "error") != true);
            }

            return Task.CompletedTask;
        };
    }

    /// <summary>Connects to the broker (as <paramref name="login"/>, null: anonymous) and subscribes to the replies of
    /// <paramref name="device"/>'s infer requests.</summary>
    public static async Task<InferBenchMqtt> ConnectAsync(string host, int port, BrokerLogin? login, string topicRoot, string device, CancellationToken cancellationToken)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var bench = new InferBenchMqtt(client, topicRoot, device);
        try
        {
            await client.ConnectOrExplainAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithProtocolVersion(MqttProtocolVersion.V500)
                .WithClientId($"became-bench-{Guid.NewGuid():N}").WithLogin(login).Build(), host, port, login, cancellationToken).ConfigureAwait(false);
            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(bench._responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
            return bench;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Publishes one request and waits (at most 60 s) for its reply; true when it carries no error.</summary>
    public async Task<bool> RequestAsync(byte[] payload, CancellationToken cancellationToken)
    {
        long id = Interlocked.Increment(ref _next);
        var reply = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        byte[] correlation = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(correlation, id);
        try
        {
            await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_requestTopic).WithPayload(payload)
                .WithResponseTopic(_responseTopic).WithCorrelationData(correlation)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
            return await reply.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build()).ConfigureAwait(false);
        }

        _client.Dispose();
    }
}
