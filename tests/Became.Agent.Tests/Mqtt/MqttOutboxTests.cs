using Became.Agent.Mqtt;

namespace Became.Agent.Tests.Mqtt;

/// <summary>The bounded outbox: order, overflow, and one retained value per topic.</summary>
public sealed class MqttOutboxTests
{
    [Fact]
    public void Messages_come_out_in_the_order_they_were_added()
    {
        var outbox = new MqttOutbox(10);
        outbox.Add(Event("a"));
        outbox.Add(Event("b"));
        outbox.Add(Status("s1"));

        Assert.Equal(["a", "b", "s1"], Payloads(outbox));
    }

    [Fact]
    public void Full_outbox_drops_the_oldest_non_retained_message()
    {
        var outbox = new MqttOutbox(3);
        outbox.Add(Status("s1"));
        outbox.Add(Event("a"));
        outbox.Add(Event("b"));

        var dropped = outbox.Add(Event("c"));

        Assert.Equal("a", Payload(dropped!));
        Assert.Equal(["s1", "b", "c"], Payloads(outbox));
    }

    [Fact]
    public void Newer_retained_message_replaces_the_queued_one_on_its_topic_without_dropping_anything()
    {
        var outbox = new MqttOutbox(3);
        outbox.Add(Status("s1"));
        outbox.Add(Event("a"));
        outbox.Add(Event("b"));

        var dropped = outbox.Add(Status("s2"));

        Assert.Null(dropped);
        Assert.Equal(["a", "b", "s2"], Payloads(outbox));
    }

    [Fact]
    public void Removing_a_node_that_was_superseded_meanwhile_leaves_the_newer_value()
    {
        var outbox = new MqttOutbox(3);
        outbox.Add(Status("s1"));
        var inFlight = outbox.First!;
        outbox.Add(Status("s2"));

        outbox.Remove(inFlight);

        Assert.Equal(["s2"], Payloads(outbox));
    }

    private static OutboxMessage Event(string payload) => new("became/dev/events", System.Text.Encoding.UTF8.GetBytes(payload), Retain: false);

    private static OutboxMessage Status(string payload) => new("became/dev/status", System.Text.Encoding.UTF8.GetBytes(payload), Retain: true);

    private static string Payload(OutboxMessage message) => System.Text.Encoding.UTF8.GetString(message.Payload);

    private static string[] Payloads(MqttOutbox outbox) => [.. outbox.Snapshot().Select(Payload)];
}
