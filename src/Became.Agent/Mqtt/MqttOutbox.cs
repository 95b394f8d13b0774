namespace Became.Agent.Mqtt;

/// <summary>A message waiting in the outbox; the payload is a private copy.</summary>
internal sealed record OutboxMessage(string Topic, byte[] Payload, bool Retain)
{
    /// <summary>MQTT 5 correlation data of a reply (empty for plain messages).</summary>
    public byte[] CorrelationData { get; init; } = [];

    /// <summary>MQTT 5 user properties.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];
}

/// <summary>
/// Bounded FIFO of messages published while disconnected. Retained messages are state, so only the newest per topic
/// is kept; when full, the oldest non-retained message makes room (the oldest retained one only if nothing else is
/// left). Not thread-safe: <see cref="MqttConnection"/> guards it with its lock.
/// </summary>
internal sealed class MqttOutbox
{
    private readonly LinkedList<OutboxMessage> _queue = new();
    private readonly Dictionary<string, LinkedListNode<OutboxMessage>> _retained = new(StringComparer.Ordinal);

    public MqttOutbox(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Count => _queue.Count;

    /// <summary>The oldest message, left in place until <see cref="Remove"/> confirms it was published.</summary>
    public LinkedListNode<OutboxMessage>? First => _queue.First;

    /// <summary>Appends the message; returns the one dropped to make room, if any.</summary>
    public OutboxMessage? Add(OutboxMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);

        // A newer retained value supersedes the queued one; it moves to the back to keep publication order.
        if (message.Retain && _retained.Remove(message.Topic, out var superseded))
        {
            _queue.Remove(superseded);
        }

        OutboxMessage? dropped = null;
        if (_queue.Count >= Capacity)
        {
            dropped = DropOldest();
        }

        var node = _queue.AddLast(message);
        if (message.Retain)
        {
            _retained[message.Topic] = node;
        }

        return dropped;
    }

    /// <summary>Removes a node taken from <see cref="First"/>; a no-op if it was dropped or superseded meanwhile.</summary>
    public void Remove(LinkedListNode<OutboxMessage> node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.List != _queue)
        {
            return;
        }

        _queue.Remove(node);
        if (node.Value.Retain && _retained.TryGetValue(node.Value.Topic, out var current) && current == node)
        {
            _retained.Remove(node.Value.Topic);
        }
    }

    public IReadOnlyList<OutboxMessage> Snapshot() => [.. _queue];

    private OutboxMessage DropOldest()
    {
        var victim = _queue.First!;
        for (var node = _queue.First; node is not null; node = node.Next)
        {
            if (!node.Value.Retain)
            {
                victim = node;
                break;
            }
        }

        Remove(victim);
        return victim.Value;
    }
}
