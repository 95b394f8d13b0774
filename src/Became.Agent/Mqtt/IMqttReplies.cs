namespace Became.Agent.Mqtt;

/// <summary>Where MQTT 5 replies go (the connection in the agent): lets the request handlers be tested without a broker.</summary>
public interface IMqttReplies
{
    /// <summary>Publishes a reply on <paramref name="responseTopic"/> with the request's correlation data.</summary>
    Task ReplyAsync(string responseTopic, ReadOnlyMemory<byte> correlationData, ReadOnlyMemory<byte> payload, IReadOnlyList<KeyValuePair<string, string>> userProperties, CancellationToken cancellationToken);
}
