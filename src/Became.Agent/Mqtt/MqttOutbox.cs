namespace Became.Agent.Mqtt;

/// <summary>A message waiting in the outbox; the payload is a private copy.</summary>
internal sealed record OutboxMessage(string Topic, byte[] Payload, bool Retain)
{
    /// <summary>The largest remaining length MQTT can encode (a 4-byte variable byte integer).</summary>
    public const long ProtocolMaximumRemainingLength = 268_435_455;

    /// <summary>MQTT 5 correlation data of a reply (empty for plain messages).</summary>
    public byte[] CorrelationData { get; init; } = [];

    /// <summary>MQTT 5 user properties.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <summary>False for messages the drop callback itself published: their loss is logged, never reported again.</summary>
    public bool Reportable { get; init; } = true;

    /// <summary>Publications of this message that failed on a live connection; guarded by the connection's lock.</summary>
    public int FailedAttempts { get; set; }

    /// <summary>Remaining length of the QoS 1 PUBLISH packet that carries this message (MQTT 5).</summary>
    public long RemainingLength => _remainingLength ??= ComputeRemainingLength();

    /// <summary>
    /// Size of the whole PUBLISH packet, as the broker's Maximum Packet Size counts it: fixed header, variable header
    /// (topic, packet id, properties) and payload.
    /// </summary>
    public long PacketSize => 1 + VariableByteIntegerSize(RemainingLength) + RemainingLength;

    private long? _remainingLength;

    private long ComputeRemainingLength()
    {
        long properties = CorrelationData.Length > 0 ? 1 + 2 + CorrelationData.Length : 0;
        foreach (var (name, value) in UserProperties)
        {
            properties += 1 + 2 + System.Text.Encoding.UTF8.GetByteCount(name) + 2 + System.Text.Encoding.UTF8.GetByteCount(value);
        }

        // Topic name (length-prefixed), packet identifier (QoS 1), property length and properties, payload.
        return 2 + System.Text.Encoding.UTF8.GetByteCount(Topic) + 2 + VariableByteIntegerSize(properties) + properties + Payload.LongLength;
    }

    private static int VariableByteIntegerSize(long value) => value switch
    {
        < 128 => 1,
        < 16_384 => 2,
        < 2_097_152 => 3,
        _ => 4,
    };
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

    /// <summary>
    /// Failed publications on a live connection after which a message is given up. A message that breaks every
    /// connection it is sent on (the broker drops the link each time) must not block everything behind it for ever;
    /// a few tries still ride out a link that happened to fail at that moment.
    /// </summary>
    public const int MaxPublishAttempts = 3;

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

    /// <summary>
    /// Counts a failed publication of a queued message; once it has failed <see cref="MaxPublishAttempts"/> times it is
    /// removed and true is returned (the caller reports the loss).
    /// </summary>
    public bool RecordFailure(LinkedListNode<OutboxMessage> node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (++node.Value.FailedAttempts < MaxPublishAttempts || node.List != _queue)
        {
            return false;
        }

        Remove(node);
        return true;
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
