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

    [Fact]
    public void Message_is_given_up_after_its_third_failed_publication()
    {
        var outbox = new MqttOutbox(10);
        outbox.Add(Event("poison"));
        outbox.Add(Event("next"));
        var head = outbox.First!;

        bool first = outbox.RecordFailure(head);
        bool second = outbox.RecordFailure(head);
        bool third = outbox.RecordFailure(head);

        Assert.Equal([false, false, true], [first, second, third]);
        Assert.Equal(["next"], Payloads(outbox));
    }

    [Fact]
    public void Packet_size_counts_the_fixed_header_topic_packet_id_properties_and_payload()
    {
        var message = new OutboxMessage("a/b", new byte[200], Retain: false)
        {
            CorrelationData = [1, 2],
            UserProperties = [new("k", "vv")],
        };

        // Properties: correlation data 1+2+2, user property 1+2+1+2+2 = 13. Remaining: topic 2+3, packet id 2,
        // property length 1, properties 13, payload 200 = 221 (2-byte length). Packet: 1 + 2 + 221.
        Assert.Equal(221, message.RemainingLength);
        Assert.Equal(224, message.PacketSize);
    }

    private static OutboxMessage Event(string payload) => new("became/dev/events", System.Text.Encoding.UTF8.GetBytes(payload), Retain: false);

    private static OutboxMessage Status(string payload) => new("became/dev/status", System.Text.Encoding.UTF8.GetBytes(payload), Retain: true);

    private static string Payload(OutboxMessage message) => System.Text.Encoding.UTF8.GetString(message.Payload);

    private static string[] Payloads(MqttOutbox outbox) => [.. outbox.Snapshot().Select(Payload)];
}
