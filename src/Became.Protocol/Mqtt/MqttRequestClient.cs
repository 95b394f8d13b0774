using System.Buffers;
using System.Collections.Concurrent;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Protocol;

/// <summary>A reply to an MQTT 5 request: its payload and user properties.</summary>
/// <param name="Payload">The body.</param>
/// <param name="Properties">The user properties (last value per name).</param>
public sealed record MqttReply(byte[] Payload, IReadOnlyDictionary<string, string> Properties)
{
    /// <summary>The <c>error</c> property: the code (<see cref="ErrorCodes"/>) of a refused request, null for an answer.</summary>
    public string? Error => Properties.GetValueOrDefault("error");
}

/// <summary>
/// MQTT 5 request/reply: one connection subscribed to its own response topic; each request carries that topic and fresh
/// correlation data, and its reply is the message on the response topic with the same correlation data. Requests may be
/// in flight together. Used by the operator's tools (pull, infer, adopt, bench-infer) and by the agent to ask a peer.
/// </summary>
public sealed class MqttRequestClient : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly MqttClientSettings _settings;
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<MqttReply>> _pending = new();

    private MqttRequestClient(IMqttClient client, MqttClientSettings settings, string responseTopic)
    {
        _client = client;
        _settings = settings;
        ResponseTopic = responseTopic;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            if (message.CorrelationData is { Length: 16 } correlation && _pending.TryRemove(new Guid(correlation), out var pending))
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

    /// <summary>Where the replies come.</summary>
    public string ResponseTopic { get; }

    /// <summary>Connects to <paramref name="endpoint"/> and subscribes to <paramref name="responseTopic"/>; a broker's
    /// refusal is an <see cref="IOException"/> that says why (<see cref="BrokerLoginConnect.ConnectOrExplainAsync"/>).</summary>
    public static async Task<MqttRequestClient> ConnectAsync(MqttEndpoint endpoint, string responseTopic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentException.ThrowIfNullOrWhiteSpace(responseTopic);
        var settings = new MqttClientSettings(endpoint);
        var requests = new MqttRequestClient(new MqttClientFactory().CreateMqttClient(), settings, responseTopic);
        try
        {
            await requests._client.ConnectOrExplainAsync(settings.Build(), endpoint.Host, endpoint.Port, endpoint.Login, cancellationToken).ConfigureAwait(false);
            await requests._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(responseTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
            return requests;
        }
        catch
        {
            await requests.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Publishes a request to <paramref name="topic"/> (QoS 1) and waits up to <paramref name="timeout"/> for its
    /// reply; <see cref="TimeoutException"/> when none comes.</summary>
    public async Task<MqttReply> RequestAsync(string topic, byte[] payload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        var pending = new TaskCompletionSource<MqttReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = pending;
        try
        {
            await _client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(payload)
                .WithResponseTopic(ResponseTopic)
                .WithCorrelationData(id.ToByteArray())
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(), cancellationToken).ConfigureAwait(false);
            return await pending.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Disconnects (a clean session ends with it) and releases the client and its certificates.</summary>
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
