using System.Text;
using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;
using Xunit.Abstractions;

namespace Became.Agent.Tests.Mqtt;

/// <summary>The connection supervisor against a real mosquitto and against the embedded broker.</summary>
[Trait("Speed", "Slow")]
public sealed class MqttConnectionTests : IAsyncLifetime
{
    private const string StatusTopic = "became/dev/status";
    private const string Offline = """{"state":"offline"}""";
    private readonly TestLoggerProvider _logs;
    private readonly ILoggerFactory _loggers;
    private readonly List<MqttConnection> _connections = [];
    private ITestBroker? _broker;

    public MqttConnectionTests(ITestOutputHelper output)
    {
        _logs = new TestLoggerProvider(output);
        _loggers = _logs.CreateFactory();
    }

    private ITestBroker Broker => _broker ?? throw new InvalidOperationException("Start a broker first.");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _loggers.Dispose();
    }

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

    private static ReadOnlyMemory<byte> Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(MqttIncomingMessage message) => Encoding.UTF8.GetString(message.Payload.Span);

    private static MqttConnectionOptions Options(string clientId, int port, bool will = false, params string[] subscriptions) => new()
    {
        Host = "127.0.0.1",
        Port = port,
        ClientId = clientId,
        KeepAlive = TimeSpan.FromSeconds(5),
        ReconnectMin = TimeSpan.FromMilliseconds(50),
        ReconnectMax = TimeSpan.FromMilliseconds(400),
        HealthCheckInterval = TimeSpan.FromMilliseconds(200),
        OperationTimeout = TimeSpan.FromSeconds(5),
        WillTopic = will ? StatusTopic : null,
        WillPayload = will ? Offline : null,
        Subscriptions = subscriptions,
    };

    /// <summary>Both brokers log a client's departure (mosquitto on its output, the embedded one at Debug).</summary>
    private bool BrokerLoggedDisconnect(string clientId) => _logs.Entries.Any(e =>
        e.Message.Contains($"client {clientId} disconnected", StringComparison.OrdinalIgnoreCase)
        || e.Message.Contains($"Client {clientId} closed its connection", StringComparison.Ordinal));

    private async Task StartBrokerAsync(BrokerKind kind) => _broker = await TestBrokers.StartAsync(kind, _loggers);

    private async Task<MqttConnection> StartAsync(
        string clientId,
        Func<MqttIncomingMessage, CancellationToken, Task>? handler = null,
        params string[] subscriptions) => await StartAsync(clientId, handler, will: false, subscriptions);

    private async Task<MqttConnection> StartAsync(
        string clientId,
        Func<MqttIncomingMessage, CancellationToken, Task>? handler,
        bool will,
        params string[] subscriptions)
    {
        var connection = new MqttConnection(Options(clientId, Broker.Port, will, subscriptions), _loggers.CreateLogger<MqttConnection>())
        {
            MessageHandler = handler,
        };
        _connections.Add(connection);
        await connection.StartAsync(CancellationToken.None);
        return connection;
    }

    private async Task<MqttConnection> StartOnAsync(int port, string clientId, Func<MqttIncomingMessage, CancellationToken, Task>? handler, params string[] subscriptions)
    {
        var connection = new MqttConnection(Options(clientId, port, will: false, subscriptions), _loggers.CreateLogger<MqttConnection>())
        {
            MessageHandler = handler,
        };
        _connections.Add(connection);
        await connection.StartAsync(CancellationToken.None);
        return connection;
    }

    private async Task StopAsync(MqttConnection connection)
    {
        _connections.Remove(connection);
        await connection.DisposeAsync();
    }
}
