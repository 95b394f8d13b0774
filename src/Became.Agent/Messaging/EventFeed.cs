using System.Threading.Channels;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Messaging;

/// <summary>One published event as the process saw it: its order, type, task, time, wire JSON and typed body.</summary>
public sealed record FeedEntry(long Sequence, string Type, string? TaskId, DateTimeOffset Time, string Json, IAgentEvent Body);

/// <summary>
/// The agent's events inside the process: a bounded history of the recent ones and live subscribers (the status
/// page's stream, metrics). Fed by <see cref="AgentEvents"/> before the MQTT publication, so a device without a
/// broker still shows what it does.
/// </summary>
public sealed class EventFeed
{
    /// <summary>How many events the history keeps.</summary>
    public const int HistorySize = 200;

    // A slow reader must never hold up the job thread that publishes: each subscriber gets a bounded channel that
    // drops its oldest entries.
    private const int SubscriberBuffer = 256;

    private readonly Lock _gate = new();
    private readonly Queue<FeedEntry> _history = new();
    private readonly List<Channel<FeedEntry>> _subscribers = [];
    private long _sequence;

    /// <summary>How many live subscribers there are (open status pages).</summary>
    public int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>Raised synchronously for every event, on the publisher's thread; handlers must be quick and not throw.</summary>
    public event Action<FeedEntry>? Published;

    /// <summary>Records an event and hands it to every subscriber.</summary>
    public FeedEntry Add(string type, string? taskId, DateTimeOffset time, string json, IAgentEvent body)
    {
        FeedEntry entry;
        Channel<FeedEntry>[] subscribers;
        lock (_gate)
        {
            entry = new FeedEntry(++_sequence, type, taskId, time, json, body);
            _history.Enqueue(entry);
            while (_history.Count > HistorySize)
            {
                _history.Dequeue();
            }

            subscribers = [.. _subscribers];
        }

        foreach (var subscriber in subscribers)
        {
            subscriber.Writer.TryWrite(entry);
        }

        Published?.Invoke(entry);
        return entry;
    }

    /// <summary>The most recent events, oldest first (at most <paramref name="count"/>).</summary>
    public IReadOnlyList<FeedEntry> Recent(int count = HistorySize)
    {
        lock (_gate)
        {
            return [.. _history.Skip(Math.Max(0, _history.Count - count))];
        }
    }

    /// <summary>Every event from now on until <paramref name="cancellationToken"/> ends the subscription.</summary>
    public async IAsyncEnumerable<FeedEntry> SubscribeAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<FeedEntry>(new BoundedChannelOptions(SubscriberBuffer) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_gate)
        {
            _subscribers.Add(channel);
        }

        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var entry))
                {
                    yield return entry;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _subscribers.Remove(channel);
            }
        }
    }
}
