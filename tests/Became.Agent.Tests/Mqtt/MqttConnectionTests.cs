using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Mqtt;

/// <summary>The connection supervisor against a real mosquitto and against the embedded broker.</summary>
[Trait("Speed", "Slow")]
public sealed class MqttConnectionTests(ITestOutputHelper output) : MqttConnectionRig(output)
{
    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Subscribed_connection_receives_a_published_message(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var inbox = new Inbox();
        var subscriber = await StartAsync("subscriber", inbox.Acknowledging, "tasks/#");
        var publisher = await StartAsync("publisher");

        await publisher.PublishAsync("tasks/1", Utf8("hello"), retain: false, CancellationToken.None);

        var message = await inbox.NextAsync();
        Assert.True(subscriber.IsConnected);
        Assert.Equal("tasks/1", message.Topic);
        Assert.Equal("hello", Text(message));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Message_whose_handler_threw_is_redelivered_to_the_next_connection_with_the_same_client_id(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var failing = new Inbox();
        var first = await StartAsync("agent", failing.Throwing, "tasks/#");
        var publisher = await StartAsync("publisher");
        await publisher.PublishAsync("tasks/1", Utf8("job"), retain: false, CancellationToken.None);
        Assert.Equal("job", Text(await failing.NextAsync()));
        await StopAsync(first);

        var inbox = new Inbox();
        await StartAsync("agent", inbox.Acknowledging, "tasks/#");

        var redelivered = await inbox.NextAsync();
        Assert.Equal("tasks/1", redelivered.Topic);
        Assert.Equal("job", Text(redelivered));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Acknowledged_message_is_not_redelivered_to_the_next_connection(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var first = new Inbox();
        var firstConnection = await StartAsync("agent", first.Acknowledging, "tasks/#");
        var publisher = await StartAsync("publisher");
        await publisher.PublishAsync("tasks/1", Utf8("job"), retain: false, CancellationToken.None);
        Assert.Equal("job", Text(await first.NextAsync()));
        await StopAsync(firstConnection);

        var inbox = new Inbox();
        await StartAsync("agent", inbox.Acknowledging, "tasks/#");
        await publisher.PublishAsync("tasks/2", Utf8("marker"), retain: false, CancellationToken.None);

        // A redelivery would come before the marker, which the broker sends after the resumed session's backlog.
        Assert.Equal("marker", Text(await inbox.NextAsync()));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Message_published_while_the_subscriber_was_away_arrives_when_it_reconnects(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var first = await StartAsync("agent", new Inbox().Acknowledging, "tasks/#");
        await StopAsync(first);
        var publisher = await StartAsync("publisher");
        await publisher.PublishAsync("tasks/1", Utf8("while away"), retain: false, CancellationToken.None);

        var inbox = new Inbox();
        await StartAsync("agent", inbox.Acknowledging, "tasks/#");

        Assert.Equal("while away", Text(await inbox.NextAsync()));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Connection_reconnects_by_itself_after_a_broker_restart_and_publishes_again(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var inbox = new Inbox();
        var connection = await StartAsync("agent", inbox.Acknowledging, "events/#");
        await Broker.StopAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => !connection.IsConnected, "the connection notices the broker is gone");

        await Broker.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => connection.IsConnected, "the connection is back");
        await connection.PublishAsync("events/after", Utf8("after restart"), retain: false, CancellationToken.None);

        // It receives its own publication: the subscription survived (mosquitto) or was renewed (embedded).
        Assert.Equal("after restart", Text(await inbox.NextAsync()));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Start_returns_while_the_broker_is_down_and_the_connection_follows_when_it_comes_up(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        await Broker.StopAsync(CancellationToken.None);

        var connection = await StartAsync("agent");
        Assert.False(connection.IsConnected);
        await Broker.StartAsync(CancellationToken.None);

        await Eventually.TrueAsync(() => connection.IsConnected, "the connection is up");
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Messages_published_while_the_broker_was_down_are_delivered_in_order_after_reconnect(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var inbox = new Inbox();
        var connection = await StartAsync("agent", inbox.Acknowledging, "events/#");
        await Broker.StopAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => !connection.IsConnected, "the connection notices the broker is gone");

        await connection.PublishAsync("events/1", Utf8("first"), retain: false, CancellationToken.None);
        await connection.PublishAsync("events/2", Utf8("second"), retain: false, CancellationToken.None);
        Assert.Equal(2, connection.OutboxCount);
        await Broker.StartAsync(CancellationToken.None);

        Assert.Equal("first", Text(await inbox.NextAsync()));
        Assert.Equal("second", Text(await inbox.NextAsync()));
        await Eventually.TrueAsync(() => connection.OutboxCount == 0, "the outbox is empty");
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Will_is_published_and_retained_when_the_connection_dies_without_disconnect(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var watcher = new Inbox();
        await StartAsync("watcher", watcher.Acknowledging, StatusTopic);
        var agent = await StartAsync("agent", handler: null, will: true);

        await agent.AbortAsync();

        Assert.Equal(Offline, Text(await watcher.NextAsync()));
        var late = new Inbox();
        await StartAsync("late-watcher", late.Acknowledging, StatusTopic);
        Assert.Equal(Offline, Text(await late.NextAsync()));
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Clean_dispose_does_not_publish_the_will(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var watcher = new Inbox();
        await StartAsync("watcher", watcher.Acknowledging, StatusTopic);
        var agent = await StartAsync("agent", handler: null, will: true);
        var publisher = await StartAsync("publisher");

        await StopAsync(agent);
        await Eventually.TrueAsync(() => BrokerLoggedDisconnect("agent"), "the broker has processed the disconnect");
        await publisher.PublishAsync(StatusTopic, Utf8("marker"), retain: false, CancellationToken.None);

        // A will would have been queued when the broker processed the disconnect, so before the marker.
        Assert.Equal("marker", Text(await watcher.NextAsync()));
    }

    [Fact]
    public async Task Refused_connection_is_logged_with_its_reason_and_retried()
    {
        // No password file and no anonymous access: every CONNECT is answered with "not authorized".
        _broker = await TestBrokers.StartAsync(BrokerKind.Mosquitto, _loggers, "allow_anonymous false");
        var connection = await StartAsync("agent");

        Assert.False(connection.IsConnected);
        await Eventually.TrueAsync(() => _logs.Count(4011) >= 2, "the refusal was logged at least twice");
        Assert.Contains(_logs.Entries, e => e.Event.Id == 4011 && e.Message.Contains("NotAuthorized", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Embedded_broker_on_port_zero_reports_the_port_it_listens_on()
    {
        await using var broker = new EmbeddedBroker(0, _loggers.CreateLogger<EmbeddedBroker>());
        await broker.StartAsync(CancellationToken.None);
        Assert.NotEqual(0, broker.Port);

        await using var connection = new MqttConnection(Options("agent", broker.Port), _loggers.CreateLogger<MqttConnection>());
        await connection.StartAsync(CancellationToken.None);

        Assert.True(connection.IsConnected);
    }

    [Theory]
    [InlineData(BrokerKind.Mosquitto)]
    [InlineData(BrokerKind.Embedded)]
    public async Task Handler_that_fails_after_acknowledging_is_not_logged_as_redelivered(BrokerKind kind)
    {
        await StartBrokerAsync(kind);
        var inbox = new Inbox();
        await StartAsync("agent", async (message, cancellationToken) =>
        {
            await message.AcknowledgeAsync(cancellationToken);
            await inbox.Acknowledging(message, cancellationToken);
            throw new InvalidOperationException("handler failure after acknowledging (test)");
        }, "tasks/#");
        var publisher = await StartAsync("publisher");

        await publisher.PublishAsync("tasks/1", Utf8("job"), retain: false, CancellationToken.None);
        await inbox.NextAsync();

        await Eventually.TrueAsync(() => _logs.Count(4022) == 1, "the failure was logged");
        Assert.Equal(0, _logs.Count(4020));
    }
}
