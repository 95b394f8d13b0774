using Became.Protocol;
using Microsoft.Extensions.Logging;
using MQTTnet;

namespace Became.Agent.Mqtt;

/// <summary>
/// Supervises one MQTT 5 connection: reconnects with backoff, keeps a persistent session, acknowledges received
/// messages only when the handler says so, and holds publications in an outbox while disconnected.
/// </summary>
/// <remarks>
/// <para>
/// The session is persistent: clean start is off and the broker keeps it for <see cref="MqttConnectionOptions.SessionExpiry"/>,
/// so QoS 1 messages sent while the device is away are delivered when it returns. Subscriptions are sent on the
/// first connection and again whenever the broker reports no session.
/// </para>
/// <para>
/// Received messages reach <see cref="MessageHandler"/> one at a time, in order. They are acknowledged only when the
/// handler calls <see cref="MqttIncomingMessage.AcknowledgeAsync"/>; if the handler throws, the error is logged and
/// the message stays unacknowledged, so the broker redelivers it (flagged duplicate) in the next session.
/// </para>
/// <para>
/// <see cref="PublishAsync"/> publishes at QoS 1. While disconnected, messages go to a bounded outbox and are
/// published in order after the next reconnection, before anything newer: events produced while offline reach the
/// broker late rather than never, up to <see cref="MqttConnectionOptions.OutboxCapacity"/> messages. When the outbox
/// is full the oldest non-retained message is dropped with a warning; of retained messages (state, such as status)
/// only the newest per topic is kept. The outbox lives in memory: it does not survive the process. Delivery is at
/// least once, so a message whose acknowledgement was lost with the connection may be published twice.
/// </para>
/// <para>
/// A message the broker cannot take is never retried for ever, since everything published after it waits behind
/// it: one larger than the broker's Maximum Packet Size (MQTT 5 CONNACK) is not sent at all, one whose publication
/// failed on a live connection <see cref="MqttOutbox.MaxPublishAttempts"/> times (a broker that drops the link each
/// time) is given up, and one the broker refused is not sent again. Each is logged and told to
/// <see cref="MessageDropped"/>.
/// </para>
/// </remarks>
public sealed partial class MqttConnection : IMqttReplies, IAsyncDisposable
{
    private readonly MqttConnectionOptions _options;
    private readonly ILogger<MqttConnection> _logger;
    private readonly MqttClientFactory _factory = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly CancellationToken _stopping;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Lock _sync = new();
    private readonly MqttOutbox _outbox;

    // Loaded once: a renewed certificate is picked up by restarting the agent.
    private readonly MqttClientSettings _clientSettings;

    // Set by the first connection attempt when the broker refused for good (see FailOnStartRefusal).
    private MqttConnectionRefusedException? _startRefusal;

    // Guarded by _sync. A fresh client per connection keeps connect and publish from ever sharing one client
    // object (MQTTnet forbids that); publishers still holding an old client just fail over to the outbox.
    private IMqttClient? _client;

    // Guarded by _sync: true once the current connection has drained the outbox, so publications may go out directly.
    private bool _online;

    // Guarded by _sync: the Maximum Packet Size of the latest CONNACK (null: the broker set none).
    private uint? _brokerMaximumPacketSize;

    // True while MessageDropped runs: what it publishes is not reported again if it is dropped too (no recursion).
    private readonly AsyncLocal<bool> _reportingDrop = new();

    // Touched by the supervisor only (StartAsync runs before it exists).
    private bool _wasConnected;
    private bool _subscriptionsConfirmed;

    private Task? _supervisor;
    private int _started;
    private int _stopped;

    public MqttConnection(MqttConnectionOptions options, ILogger<MqttConnection> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _options = options;
        _logger = logger;
        _outbox = new MqttOutbox(options.OutboxCapacity);
        _stopping = _lifetime.Token;
        _clientSettings = new MqttClientSettings(options.Endpoint());
    }

    public MqttConnectionOptions Options => _options;

    /// <summary>Receives every message of the subscriptions; set before <see cref="StartAsync"/>. Keep it idempotent.</summary>
    public Func<MqttIncomingMessage, CancellationToken, Task>? MessageHandler { get; set; }

    /// <summary>
    /// Called after each (re)connection once the outbox is flushed, e.g. to publish the online status; set before
    /// <see cref="StartAsync"/>. Awaited by the supervision loop, so keep it short; failures are logged.
    /// </summary>
    public Func<CancellationToken, Task>? Connected { get; set; }

    /// <summary>Called when an established connection is lost (not on <see cref="DisposeAsync"/>); same rules as <see cref="Connected"/>.</summary>
    public Func<CancellationToken, Task>? Disconnected { get; set; }

    /// <summary>
    /// Called when a publication is given up (see the remarks on <see cref="MqttConnection"/>), after it was logged, e.g.
    /// to publish an event about it. What this callback publishes is never reported here again, so a report that
    /// cannot be delivered either cannot recurse. Failures are logged.
    /// </summary>
    public Func<MqttDroppedMessage, CancellationToken, Task>? MessageDropped { get; set; }

    /// <summary>The broker's Maximum Packet Size from the latest CONNACK; null when it set none (or before connecting).</summary>
    public uint? BrokerMaximumPacketSize
    {
        get
        {
            lock (_sync)
            {
                return _brokerMaximumPacketSize;
            }
        }
    }

    public bool IsConnected
    {
        get
        {
            lock (_sync)
            {
                return _client?.IsConnected == true;
            }
        }
    }

    /// <summary>Messages waiting for the next connection.</summary>
    public int OutboxCount
    {
        get
        {
            lock (_sync)
            {
                return _outbox.Count;
            }
        }
    }

    /// <summary>
    /// Makes the first connection attempt and returns when it has finished, connected or not; supervision and
    /// reconnection continue in the background until <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _stopped) != 0, this);
        if (_options.Subscriptions.Count > 0 && MessageHandler is null)
        {
            throw new InvalidOperationException("Set MessageHandler before starting a connection with subscriptions.");
        }

        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The connection is already started.");
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping);
        var connected = await ConnectAsync(linked.Token).ConfigureAwait(false);
        if (!connected && _options.FailOnStartRefusal && _startRefusal is { } refusal)
        {
            // Retrying with the same credentials or certificates cannot succeed: say so now instead of looping.
            throw refusal;
        }

        var failures = connected ? 0 : 1;
        _supervisor = Task.Run(() => SuperviseAsync(failures, _stopping), CancellationToken.None);
    }

    /// <summary>
    /// Publishes at QoS 1 now when connected, otherwise queues the message in the outbox for the next connection
    /// (see the remarks on <see cref="MqttConnection"/>). Returns once the broker acknowledged it, it is queued, or it
    /// was given up as one the broker cannot take (logged and told to <see cref="MessageDropped"/>, not thrown).
    /// The payload is copied. If <paramref name="cancellationToken"/> fires mid-publication the message may or may
    /// not have been delivered and is not queued.
    /// </summary>
    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken) =>
        PublishMessageAsync(new OutboxMessage(topic, payload.ToArray(), retain) { Reportable = !_reportingDrop.Value }, cancellationToken);

    /// <summary>Publishes an MQTT 5 reply: the payload on <paramref name="responseTopic"/> with the request's correlation
    /// data and the given user properties (same delivery rules as <see cref="PublishAsync(string, ReadOnlyMemory{byte}, bool, CancellationToken)"/>).</summary>
    public Task ReplyAsync(string responseTopic, ReadOnlyMemory<byte> correlationData, ReadOnlyMemory<byte> payload, IReadOnlyList<KeyValuePair<string, string>> userProperties, CancellationToken cancellationToken) =>
        PublishMessageAsync(new OutboxMessage(responseTopic, payload.ToArray(), Retain: false) { CorrelationData = correlationData.ToArray(), UserProperties = userProperties, Reportable = !_reportingDrop.Value }, cancellationToken);

    private async Task PublishMessageAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _stopped) != 0, this);
        ThrowIfInvalidTopic(message.Topic);
        cancellationToken.ThrowIfCancellationRequested();

        IMqttClient? client;
        string? tooLarge;
        lock (_sync)
        {
            client = _online ? _client : null;

            // The last broker's limit also holds while disconnected: queueing would only postpone the drop.
            tooLarge = TooLarge(message);
        }

        if (tooLarge is not null)
        {
            await ReportDroppedAsync(message, MqttDropReasons.TooLarge, tooLarge, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (client is not null)
        {
            var outcome = await TryPublishAsync(client, message, cancellationToken).ConfigureAwait(false);
            if (outcome is PublishOutcome.Refused)
            {
                await ReportDroppedAsync(message, MqttDropReasons.Refused, "the broker refused it", cancellationToken).ConfigureAwait(false);
            }

            if (outcome is not PublishOutcome.Failed)
            {
                return;
            }
        }

        OutboxMessage? dropped;
        lock (_sync)
        {
            if (client is not null)
            {
                // This publication on a live connection counts as the first attempt.
                message.FailedAttempts = 1;
            }

            dropped = _outbox.Add(message);

            // A failed publication means the outbox holds a message again: direct publishing pauses until the
            // supervisor has drained it in order — also when the link that failed was already replaced by a new one
            // whose (then empty) outbox flush is over; otherwise later messages would overtake this one, and it would
            // wait for the next reconnection. On the current client, the failure also makes that link suspect.
            if (client is not null && _client is not null)
            {
                _online = false;
            }
        }

        if (dropped is not null)
        {
            MqttLog.OutboxDropped(_logger, _options.OutboxCapacity, dropped.Topic);
        }

        if (client is not null)
        {
            Wake();
        }
    }

    /// <summary>Stops supervision and disconnects cleanly (no will is published; publish the offline status first).</summary>
    public ValueTask DisposeAsync() => new(StopAsync(clean: true));

    /// <summary>Stops as if the process died: the socket closes without DISCONNECT, so the broker publishes the will.</summary>
    internal Task AbortAsync() => StopAsync(clean: false);

    private static void ThrowIfInvalidTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.AsSpan().IndexOfAny('+', '#', '\0') >= 0)
        {
            throw new ArgumentException($"'{topic}' is not a topic name: no wildcards or NUL in publications.", nameof(topic));
        }
    }

    private async Task StopAsync(bool clean)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (_supervisor is not null)
        {
            await _supervisor.ConfigureAwait(false);
        }

        IMqttClient? client;
        int pending;
        lock (_sync)
        {
            client = _client;
            _client = null;
            _online = false;
            pending = _outbox.Count;
        }

        if (client is not null)
        {
            if (clean && client.IsConnected)
            {
                await DisconnectCleanlyAsync(client).ConfigureAwait(false);
            }

            client.Dispose();
        }

        if (pending > 0)
        {
            MqttLog.OutboxLost(_logger, pending);
        }

        _wake.Dispose();
        _lifetime.Dispose();
        _clientSettings.Dispose();
    }

    private async Task DisconnectCleanlyAsync(IMqttClient client)
    {
        var disconnect = new MqttClientDisconnectOptionsBuilder()
            .WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection)
            .Build();
        using var timeout = new CancellationTokenSource(_options.OperationTimeout);
        try
        {
            await client.DisconnectAsync(disconnect, timeout.Token).ConfigureAwait(false);
            MqttLog.DisconnectedCleanly(_logger, _options.Host, _options.Port);
        }
        catch (Exception exception)
        {
            MqttLog.DisconnectFailed(_logger, exception.Message);
        }
    }

    private void Wake()
    {
        try
        {
            // One pending wake-up is enough; the race on CurrentCount only costs an extra early check.
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (ObjectDisposedException)
        {
            // Stopped meanwhile: nobody left to wake.
        }
    }

    private async Task InvokeCallbackAsync(Func<CancellationToken, Task>? callback, string name, CancellationToken cancellationToken)
    {
        if (callback is null)
        {
            return;
        }

        try
        {
            await callback(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            MqttLog.CallbackFailed(_logger, exception, name);
        }
    }
}
