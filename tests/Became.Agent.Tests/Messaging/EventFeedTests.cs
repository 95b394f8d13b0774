using Became.Agent.Messaging;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Tests.Messaging;

/// <summary>The in-process event feed: bounded history, live subscribers that never block the publisher.</summary>
public sealed class EventFeedTests
{
    private static FeedEntry Add(EventFeed feed, int n) =>
        feed.Add(EventTypes.ModelMerged, $"t-{n}", DateTimeOffset.UnixEpoch.AddSeconds(n), $"{{\"n\":{n}}}", new ModelMerged(n / 10.0));

    [Fact]
    public void History_keeps_the_most_recent_events_in_order()
    {
        var feed = new EventFeed();
        for (int n = 0; n < EventFeed.HistorySize + 5; n++)
        {
            Add(feed, n);
        }

        var recent = feed.Recent();
        Assert.Equal(EventFeed.HistorySize, recent.Count);
        Assert.Equal("t-5", recent[0].TaskId);
        Assert.Equal($"t-{EventFeed.HistorySize + 4}", recent[^1].TaskId);
        Assert.Equal(["t-202", "t-203", "t-204"], feed.Recent(3).Select(e => e.TaskId));
    }

    [Fact]
    public async Task Subscriber_receives_events_published_after_it_subscribed()
    {
        var feed = new EventFeed();
        Add(feed, 0);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<FeedEntry>();
        var reading = Task.Run(async () =>
        {
            await foreach (var entry in feed.SubscribeAsync(cts.Token))
            {
                received.Add(entry);
                if (received.Count == 2)
                {
                    break;
                }
            }
        });
        await Eventually.TrueAsync(() => feed.SubscriberCount == 1, "the subscriber is registered", TimeSpan.FromSeconds(10));
        Add(feed, 1);
        Add(feed, 2);
        await reading.WaitAsync(cts.Token);

        Assert.Equal(["t-1", "t-2"], received.Select(e => e.TaskId));
        Assert.True(received[1].Sequence > received[0].Sequence);
        Assert.Equal(0, feed.SubscriberCount);
    }

    [Fact]
    public void A_subscriber_that_never_reads_does_not_block_the_publisher()
    {
        var feed = new EventFeed();
        using var cts = new CancellationTokenSource();
        var enumerator = feed.SubscribeAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        _ = enumerator.MoveNextAsync(); // registers, then waits for an event that it never consumes further

        for (int n = 0; n < 10_000; n++)
        {
            Add(feed, n);
        }

        Assert.Equal(EventFeed.HistorySize, feed.Recent().Count);
        cts.Cancel();
    }

    [Fact]
    public void Published_handlers_see_every_event()
    {
        var feed = new EventFeed();
        var seen = new List<string>();
        feed.Published += e => seen.Add(e.Type);
        Add(feed, 1);

        Assert.Equal([EventTypes.ModelMerged], seen);
    }
}
