using Became.Protocol;

namespace Became.Agent.Mqtt;

/// <summary>
/// The agent's own requests to other devices (cmd/adopt's fetch from a peer): a <see cref="MqttRequestClient"/> of its
/// own on the same broker, with the agent's broker settings (TLS, credentials) but its own client id, a clean session and
/// no will, so it never disturbs the agent's persistent session. Replies come on a fresh response topic below the prefix
/// the caller gives.
/// </summary>
public sealed class MqttRequester(MqttConnectionOptions options)
{
    /// <summary>Connects and subscribes to <paramref name="responseTopicPrefix"/> and a nonce; a broker's refusal is an
    /// <see cref="MQTTnet.Exceptions.MqttCommunicationException"/>, as other failures to reach it are.</summary>
    public async Task<MqttRequestClient> OpenAsync(string responseTopicPrefix, CancellationToken cancellationToken)
    {
        var endpoint = options.Endpoint() with
        {
            ClientId = $"{options.ClientId}-req-{Guid.NewGuid().ToString("N")[..12]}",
            PersistentSession = false,
            SessionExpiry = TimeSpan.Zero,
            WillTopic = null,
            WillPayload = null,
        };
        try
        {
            return await MqttRequestClient.ConnectAsync(endpoint, $"{responseTopicPrefix}{Guid.NewGuid():N}", cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new MQTTnet.Exceptions.MqttCommunicationException(e.Message, e);
        }
    }
}
