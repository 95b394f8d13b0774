using Became.Protocol;

namespace Became.Cli.Tools;

/// <summary>One MQTT 5 request client (<see cref="MqttRequestClient"/>) that keeps many infer requests to one device in flight.</summary>
internal sealed class InferBenchMqtt : IAsyncDisposable
{
    private readonly MqttRequestClient _client;
    private readonly string _requestTopic;

    private InferBenchMqtt(MqttRequestClient client, string requestTopic)
    {
        _client = client;
        _requestTopic = requestTopic;
    }

    /// <summary>Connects to the broker (as <paramref name="login"/>, null: anonymous) and subscribes to the replies of
    /// <paramref name="device"/>'s infer requests.</summary>
    public static async Task<InferBenchMqtt> ConnectAsync(string host, int port, BrokerLogin? login, string topicRoot, string device, CancellationToken cancellationToken)
    {
        var client = await MqttRequestClient.ConnectAsync(MqttEndpoint.Tool(host, port, login, "became-bench"), RequestCommands.ResponseTopic(topicRoot, device), cancellationToken).ConfigureAwait(false);
        return new InferBenchMqtt(client, Topics.Device(topicRoot, device, Topics.Infer));
    }

    /// <summary>Publishes one request and waits (at most 60 s) for its reply; true when it carries no error.</summary>
    public async Task<bool> RequestAsync(byte[] payload, CancellationToken cancellationToken)
    {
        // A reply carrying an error user property is an answered request that failed.
        var reply = await _client.RequestAsync(_requestTopic, payload, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        return reply.Error is null;
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
