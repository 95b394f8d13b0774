using System.Buffers;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

/// <summary>A reply to an MQTT 5 request: its payload and user properties.</summary>
/// <param name="Payload">The body.</param>
/// <param name="Properties">The user properties (last value per name).</param>
public sealed record MqttReply(byte[] Payload, IReadOnlyDictionary<string, string> Properties);

/// <summary>
/// The agent's own requests to other devices (cmd/adopt's fetch from a peer): a connection of its own to the same broker,
/// with the agent's broker settings (TLS, credentials) but its own client id, a clean session and no will, so it never
/// disturbs the agent's persistent session. Replies come on a fresh response topic below the prefix the caller gives.
/// </summary>
public sealed class MqttRequester(MqttConnectionOptions options)
{
    /// <summary>
    /// Connects and subscribes to a fresh response topic (<paramref name="responseTopicPrefix"/> and a nonce); the
    /// session sends requests one at a time.
    /// </summary>
    public async Task<MqttRequestSession> OpenAsync(string responseTopicPrefix, CancellationToken cancellationToken)
    {
        var settings = new MqttClientSettings(options with
        {
            ClientId = $"{options.ClientId}-req-{Guid.NewGuid().ToString("N")[..12]}",
            SessionExpiry = TimeSpan.Zero,
            WillTopic = null,
            WillPayload = null,
        });
        var client = new MqttClientFactory().CreateMqttClient();
        var session = new MqttRequestSession(client, settings, $"{responseTopicPrefix}{Guid.NewGuid():N}");
        try
        {
            await session.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <summary>One connection sending MQTT 5 requests and matching replies by correlation data.</summary>
public sealed class MqttRequestSession : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly MqttClientSettings _settings;
    private readonly string _responseTopic;
    private TaskCompletionSource<MqttReply>? _pending;
    private byte[] _correlation = [];

    internal MqttRequestSession(IMqttClient client, MqttClientSettings settings, string responseTopic)
    {
        _client = client;
        _settings = settings;
        _responseTopic = responseTopic;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            if (_pending is { } pending && message.CorrelationData is { } c && c.AsSpan().SequenceEqual(_correlation))
            {
                var properties = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var p in message.UserProperties ?? [])
                {
                    properties[p.Name] = p.ReadValueAsString();
                }

                pending.TrySetResult(new MqttReply(message.Payload.ToArray(), properties));
            }

            return Task.CompletedTask;
        };
    }

    internal async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var options = _settings.Build();
        options.CleanSession = true;
        await _client.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(_responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes a request to <paramref name="topic"/> and waits up to <paramref name="timeout"/> for its reply;
    /// <see cref="TimeoutException"/> when none comes.</summary>
    public async Task<MqttReply> RequestAsync(string topic, byte[] payload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _correlation = Guid.NewGuid().ToByteArray();
        var pending = _pending = new TaskCompletionSource<MqttReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithResponseTopic(_responseTopic)
            .WithCorrelationData(_correlation)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build(), cancellationToken).ConfigureAwait(false);
        return await pending.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client.IsConnected)
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build()).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException)
        {
            // Leaving anyway: the broker drops the clean session.
        }

        _client.Dispose();
        _settings.Dispose();
    }
}
