using Became.Agent.Mqtt;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Mqtt;

/// <summary>Messages the broker would refuse (too large, or breaking the link every time) are dropped and reported, and
/// later messages still arrive.</summary>
[Trait("Speed", "Slow")]
public sealed class MqttDroppedMessageTests(ITestOutputHelper output) : MqttConnectionRig(output)
{
    [Fact]
    public async Task Message_over_the_brokers_maximum_packet_size_is_dropped_unsent_and_later_messages_still_arrive()
    {
        // mosquitto announces the limit in its CONNACK and disconnects a client that sends a larger packet.
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers, "max_packet_size 2000");
        var inbox = new Inbox();
        await StartAsync("subscriber", inbox.Acknowledging, "events/#");
        var dropped = new List<MqttDroppedMessage>();
        var agent = await StartAsync("agent", handler: null);
        agent.MessageDropped = (message, _) =>
        {
            lock (dropped)
            {
                dropped.Add(message);
            }

            return Task.CompletedTask;
        };

        await agent.PublishAsync("events/big", new byte[5000], retain: false, CancellationToken.None);
        await agent.PublishAsync("events/small", Utf8("after"), retain: false, CancellationToken.None);

        Assert.Equal("after", Text(await inbox.NextAsync()));
        Assert.Equal(2000u, agent.BrokerMaximumPacketSize);
        var report = Assert.Single(dropped);
        Assert.Equal(("events/big", MqttDropReasons.TooLarge), (report.Topic, report.Reason));
        Assert.True(report.Bytes > 5000);
        Assert.Equal(1, _logs.Count(4035));
        Assert.Equal(0, _logs.Count(4016)); // never sent, so the connection was never lost
        Assert.Equal(0, agent.OutboxCount);
    }

    [Fact]
    public async Task Packet_size_is_counted_as_the_broker_counts_it()
    {
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers, "max_packet_size 1000");
        var inbox = new Inbox();
        await StartAsync("subscriber", inbox.Acknowledging, "events/#");
        var agent = await StartAsync("agent", handler: null);
        List<KeyValuePair<string, string>> properties = [new("version", "3"), new("error", "none")];
        // Everything but the payload, for payloads whose remaining length takes 2 bytes (128 to 16,383).
        long overhead = new OutboxMessage("events/reply", new byte[200], Retain: false) { CorrelationData = [1, 2, 3], UserProperties = properties }.PacketSize - 200;

        // Exactly at the limit it goes through; one byte more is not sent (mosquitto would disconnect us).
        await agent.ReplyAsync("events/reply", new byte[] { 1, 2, 3 }, new byte[1000 - overhead], properties, CancellationToken.None);
        await agent.ReplyAsync("events/reply", new byte[] { 1, 2, 3 }, new byte[1001 - overhead], properties, CancellationToken.None);
        await agent.PublishAsync("events/marker", Utf8("marker"), retain: false, CancellationToken.None);

        Assert.Equal(1000 - overhead, (await inbox.NextAsync()).Payload.Length);
        Assert.Equal("marker", Text(await inbox.NextAsync()));
        Assert.Equal(1, _logs.Count(4035));
        Assert.Equal(0, _logs.Count(4016));
    }

    [Fact]
    public async Task Message_that_breaks_the_connection_every_time_is_given_up_after_a_bounded_number_of_attempts()
    {
        // An MQTTnet broker (the embedded broker's library) that drops the link whenever this topic is published.
        int port = TestBrokers.FreePort();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(System.Net.IPAddress.Loopback)
            .WithDefaultEndpointBoundIPV6Address(System.Net.IPAddress.None).WithDefaultEndpointPort(port).Build());
        var poisonSeen = 0;
        server.InterceptingPublishAsync += e =>
        {
            if (e.ApplicationMessage.Topic == "events/poison")
            {
                Interlocked.Increment(ref poisonSeen);
                e.ProcessPublish = false;
                e.CloseConnection = true;
            }

            return Task.CompletedTask;
        };
        await server.StartAsync();
        try
        {
            var inbox = new Inbox();
            await StartOnAsync(port, "subscriber", inbox.Acknowledging, "events/#");
            var dropped = new List<MqttDroppedMessage>();
            var agent = await StartOnAsync(port, "agent", handler: null);
            agent.MessageDropped = (message, _) =>
            {
                lock (dropped)
                {
                    dropped.Add(message);
                }

                return Task.CompletedTask;
            };

            await agent.PublishAsync("events/poison", Utf8("poison"), retain: false, CancellationToken.None);
            await agent.PublishAsync("events/after", Utf8("after"), retain: false, CancellationToken.None);

            Assert.Equal("after", Text(await inbox.NextAsync(TimeSpan.FromSeconds(30))));
            var report = Assert.Single(dropped);
            Assert.Equal(("events/poison", MqttDropReasons.Undeliverable), (report.Topic, report.Reason));
            Assert.Equal(MqttOutbox.MaxPublishAttempts, Volatile.Read(ref poisonSeen));
            Assert.Equal(0, agent.OutboxCount);
        }
        finally
        {
            foreach (var connection in _connections)
            {
                await connection.DisposeAsync();
            }

            _connections.Clear();
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task Report_that_the_drop_callback_publishes_is_not_reported_again_when_it_is_dropped_too()
    {
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers, "max_packet_size 2000");
        var inbox = new Inbox();
        await StartAsync("subscriber", inbox.Acknowledging, "events/#");
        var agent = await StartAsync("agent", handler: null);
        var reports = 0;
        agent.MessageDropped = async (message, cancellationToken) =>
        {
            Interlocked.Increment(ref reports);

            // A report that cannot be delivered either: it must not come back here.
            await agent.PublishAsync("events/report", new byte[3000], retain: false, cancellationToken);
        };

        await agent.PublishAsync("events/big", new byte[5000], retain: false, CancellationToken.None);
        await agent.PublishAsync("events/small", Utf8("after"), retain: false, CancellationToken.None);

        Assert.Equal("after", Text(await inbox.NextAsync()));
        Assert.Equal(1, Volatile.Read(ref reports));
        Assert.Equal(2, _logs.Count(4035));
    }
}
