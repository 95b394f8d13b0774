namespace Became.Agent.Mqtt;

/// <summary>A received MQTT message, copied out of the client's buffers, that the handler acknowledges when it is done.</summary>
public sealed record MqttIncomingMessage
{
    private readonly Func<CancellationToken, Task> _acknowledge;

    /// <param name="topic">Topic the message was published to.</param>
    /// <param name="payload">The payload; the record owns this memory.</param>
    /// <param name="acknowledge">Sends the PUBACK; called through <see cref="AcknowledgeAsync"/>.</param>
    public MqttIncomingMessage(string topic, ReadOnlyMemory<byte> payload, Func<CancellationToken, Task> acknowledge)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(acknowledge);
        Topic = topic;
        Payload = payload;
        _acknowledge = acknowledge;
    }

    public string Topic { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>MQTT 5 request/response: where the requester wants the answer, if anywhere.</summary>
    public string? ResponseTopic { get; init; }

    /// <summary>MQTT 5 request/response: echo this in the answer; empty when absent.</summary>
    public ReadOnlyMemory<byte> CorrelationData { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <summary>The broker flagged this as a redelivery: handlers should be idempotent.</summary>
    public bool IsDuplicate { get; init; }

    /// <summary>
    /// Sends the PUBACK so the broker forgets the message. Call it once the message's effect is durable; a second
    /// call does nothing. If the connection that delivered the message is gone, nothing is sent and the broker
    /// redelivers the message in the next session.
    /// </summary>
    public Task AcknowledgeAsync(CancellationToken cancellationToken) => _acknowledge(cancellationToken);
}
