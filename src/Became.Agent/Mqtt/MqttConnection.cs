using System.Buffers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

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
public sealed class MqttConnection : IAsyncDisposable
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
    private readonly X509Certificate2Collection? _trustChain;
    private readonly X509Certificate2? _clientCertificate;

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
        if (options.CaFile is not null)
        {
            _trustChain = BrokerCertificates.LoadCa(options.CaFile);
        }

        if (options is { ClientCertificateFile: { } certificate, ClientKeyFile: { } key })
        {
            _clientCertificate = BrokerCertificates.LoadClient(certificate, key);
        }
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

            // A failed publication on the current client means that link is suspect: the supervisor
            // checks it and drains the outbox before direct publishing resumes.
            if (client is not null && ReferenceEquals(client, _client))
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
        _clientCertificate?.Dispose();
        foreach (var certificate in _trustChain ?? [])
        {
            certificate.Dispose();
        }
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

    /// <param name="failures">Failed attempts so far; after a failed first attempt the loop starts with a backoff.</param>
    /// <param name="cancellationToken">Stops supervision.</param>
    private async Task SuperviseAsync(int failures, CancellationToken cancellationToken)
    {
        var backOff = failures > 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (backOff)
                {
                    backOff = false;
                    var delay = ReconnectBackoff.Delay(failures, _options.ReconnectMin, _options.ReconnectMax, Random.Shared);
                    MqttLog.ReconnectScheduled(_logger, delay, failures);
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }

                IMqttClient? client;
                lock (_sync)
                {
                    client = _client;
                }

                if (client is { IsConnected: true })
                {
                    await WatchAsync(client, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (client is not null)
                {
                    await DropAsync(client, "the broker closed the connection", cancellationToken).ConfigureAwait(false);
                }

                if (await ConnectAsync(cancellationToken).ConfigureAwait(false))
                {
                    failures = 0;
                    continue;
                }

                failures++;
                backOff = true;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // A bug here must not end supervision for good; pause so it cannot spin.
                MqttLog.SupervisorFailed(_logger, exception);
                try
                {
                    await Task.Delay(_options.ReconnectMax, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One supervision step on a live connection: drain a pending outbox, wait, then ping.</summary>
    private async Task WatchAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        if (!await FlushOutboxAsync(client, cancellationToken).ConfigureAwait(false))
        {
            await DropAsync(client, "publishing the outbox failed", cancellationToken).ConfigureAwait(false);
            return;
        }

        // Wakes early when the client reports a disconnect or a publication fails.
        await _wake.WaitAsync(_options.HealthCheckInterval, cancellationToken).ConfigureAwait(false);
        if (!client.IsConnected)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.OperationTimeout);
        if (!await client.TryPingAsync(timeout.Token).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await DropAsync(client, "no answer to a ping", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Forgets a connection considered dead and tells the status publisher.</summary>
    private async Task DropAsync(IMqttClient client, string reason, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            if (!ReferenceEquals(_client, client))
            {
                return;
            }

            _client = null;
            _online = false;
        }

        // No DISCONNECT: the link is considered broken, and if the broker still sees it, the will is the truth.
        client.Dispose();
        if (_wasConnected)
        {
            _wasConnected = false;
            MqttLog.ConnectionLost(_logger, reason);
            await InvokeCallbackAsync(Disconnected, nameof(Disconnected), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One connection attempt: CONNECT, subscribe if the session is new, flush the outbox.</summary>
    private async Task<bool> ConnectAsync(CancellationToken cancellationToken)
    {
        var client = _factory.CreateMqttClient();
        client.ApplicationMessageReceivedAsync += OnMessageReceivedAsync;
        client.DisconnectedAsync += e => OnClientDisconnected(client, e);

        MqttClientConnectResult result;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.OperationTimeout);
            result = await client.ConnectAsync(BuildClientOptions(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            throw;
        }
        catch (Exception exception)
        {
            client.Dispose();
            MqttLog.ConnectFailed(_logger, _options.Host, _options.Port, Describe(exception));
            if (FindTlsFailure(exception) is { } tls)
            {
                RecordStartRefusal(new MqttConnectionRefusedException("TlsAuthentication",
                    $"TLS with the broker {_options.Host}:{_options.Port} failed: {tls.Message}{(tls.InnerException is { } inner ? $" ({inner.Message})" : string.Empty)}", exception));
            }

            return false;
        }

        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            client.Dispose();
            MqttLog.ConnectRefused(_logger, _options.Host, _options.Port, result.ResultCode.ToString(), result.ReasonString);
            if (IsPermanent(result.ResultCode))
            {
                RecordStartRefusal(new MqttConnectionRefusedException(result.ResultCode.ToString(),
                    $"The broker {_options.Host}:{_options.Port} refused the connection: {result.ResultCode}{(string.IsNullOrEmpty(result.ReasonString) ? string.Empty : $" ({result.ReasonString})")}."));
            }

            return false;
        }

        if (!result.IsSessionPresent)
        {
            _subscriptionsConfirmed = false;
        }

        if (!_subscriptionsConfirmed && !await SubscribeAsync(client, cancellationToken).ConfigureAwait(false))
        {
            // The session may now hold part of the subscriptions; the next attempt sends them all again.
            await DisconnectCleanlyAsync(client).ConfigureAwait(false);
            client.Dispose();
            return false;
        }

        int pending;
        lock (_sync)
        {
            _client = client;
            _online = false;
            pending = _outbox.Count;
            _brokerMaximumPacketSize = result.MaximumPacketSize is > 0 ? result.MaximumPacketSize : null;
        }

        _wasConnected = true;
        MqttLog.Connected(_logger, _options.Host, _options.Port, _options.ClientId, result.IsSessionPresent, pending);

        if (!await FlushOutboxAsync(client, cancellationToken).ConfigureAwait(false))
        {
            await DropAsync(client, "publishing the outbox failed", cancellationToken).ConfigureAwait(false);
            return false;
        }

        await InvokeCallbackAsync(Connected, nameof(Connected), cancellationToken).ConfigureAwait(false);
        return true;
    }

    private MqttClientOptions BuildClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.OperationTimeout);

        if (_options.MaximumPacketSize is uint maximum)
        {
            builder.WithMaximumPacketSize(maximum);
        }

        if (_options.UseTls)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls().WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13);
                if (_trustChain is not null)
                {
                    // A private CA publishes no revocation lists, so an online check could only fail or stall.
                    tls.WithTrustChain(_trustChain).WithRevocationMode(X509RevocationMode.NoCheck);
                }

                if (_clientCertificate is not null)
                {
                    tls.WithClientCertificates([_clientCertificate]);
                }
            });
        }

        if (_options.Username is not null)
        {
            builder.WithCredentials(_options.Username, _options.Password);
        }

        if (_options.WillTopic is not null)
        {
            builder
                .WithWillTopic(_options.WillTopic)
                .WithWillPayload(Encoding.UTF8.GetBytes(_options.WillPayload ?? string.Empty))
                .WithWillRetain(_options.WillRetain)
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        }

        return builder.Build();
    }

    private async Task<bool> SubscribeAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        if (_options.Subscriptions.Count == 0)
        {
            _subscriptionsConfirmed = true;
            return true;
        }

        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _options.Subscriptions)
        {
            builder.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        MqttClientSubscribeResult result;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.OperationTimeout);
            result = await client.SubscribeAsync(builder.Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            MqttLog.ConnectFailed(_logger, _options.Host, _options.Port, "subscribing: " + Describe(exception));
            return false;
        }

        var refused = result.Items
            .Where(item => item.ResultCode is not (MqttClientSubscribeResultCode.GrantedQoS0
                or MqttClientSubscribeResultCode.GrantedQoS1 or MqttClientSubscribeResultCode.GrantedQoS2))
            .ToList();
        foreach (var item in refused)
        {
            MqttLog.SubscribeRefused(_logger, item.TopicFilter.Topic, item.ResultCode.ToString());
        }

        _subscriptionsConfirmed = refused.Count == 0;
        if (_subscriptionsConfirmed)
        {
            MqttLog.Subscribed(_logger, result.Items.Count);
        }

        return _subscriptionsConfirmed;
    }

    /// <summary>Publishes the outbox in order on this client; false when the connection failed meanwhile.</summary>
    private async Task<bool> FlushOutboxAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        var flushed = 0;
        while (true)
        {
            LinkedListNode<OutboxMessage>? node;
            string? tooLarge;
            lock (_sync)
            {
                if (!ReferenceEquals(_client, client))
                {
                    return false;
                }

                node = _online ? null : _outbox.First;
                if (node is null)
                {
                    // Direct publishing resumes only with an empty outbox, so nothing overtakes queued messages.
                    _online = true;
                    break;
                }

                // This broker's limit may be lower than the one the message was queued under.
                tooLarge = TooLarge(node.Value);
                if (tooLarge is not null)
                {
                    _outbox.Remove(node);
                }
            }

            if (tooLarge is not null)
            {
                await ReportDroppedAsync(node.Value, MqttDropReasons.TooLarge, tooLarge, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var outcome = await TryPublishAsync(client, node.Value, cancellationToken).ConfigureAwait(false);
            if (outcome is PublishOutcome.Failed)
            {
                bool givenUp;
                lock (_sync)
                {
                    givenUp = _outbox.RecordFailure(node);
                }

                if (givenUp)
                {
                    await ReportDroppedAsync(node.Value, MqttDropReasons.Undeliverable,
                        $"its publication failed {MqttOutbox.MaxPublishAttempts} times on a live connection", cancellationToken).ConfigureAwait(false);
                }

                return false;
            }

            lock (_sync)
            {
                _outbox.Remove(node);
            }

            if (outcome is PublishOutcome.Refused)
            {
                await ReportDroppedAsync(node.Value, MqttDropReasons.Refused, "the broker refused it", cancellationToken).ConfigureAwait(false);
            }

            flushed++;
        }

        if (flushed > 0)
        {
            MqttLog.OutboxFlushed(_logger, flushed);
        }

        return true;
    }

    /// <summary>Publishes at QoS 1: Failed on a connection problem (the caller queues or counts the attempt),
    /// Published or Refused once the broker answered.</summary>
    private async Task<PublishOutcome> TryPublishAsync(IMqttClient client, OutboxMessage message, CancellationToken cancellationToken)
    {
        var applicationMessage = new MqttApplicationMessageBuilder()
            .WithTopic(message.Topic)
            .WithPayload(message.Payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(message.Retain)
            .Build();
        if (message.CorrelationData.Length > 0)
        {
            applicationMessage.CorrelationData = message.CorrelationData;
        }

        foreach (var (name, value) in message.UserProperties)
        {
            applicationMessage.UserProperties ??= [];
            applicationMessage.UserProperties.Add(new MqttUserProperty(name, System.Text.Encoding.UTF8.GetBytes(value)));
        }

        MqttClientPublishResult result;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping);
            timeout.CancelAfter(_options.OperationTimeout);
            result = await client.PublishAsync(applicationMessage, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            MqttLog.PublishDeferred(_logger, message.Topic, Describe(exception));
            return PublishOutcome.Failed;
        }

        // A refusal (not authorized, quota, ...) would be refused again: report it rather than retry.
        if (!result.IsSuccess)
        {
            MqttLog.PublishRejected(_logger, message.Topic, result.ReasonCode.ToString(), result.ReasonString);
            return PublishOutcome.Refused;
        }

        return PublishOutcome.Published;
    }

    /// <summary>Why <paramref name="message"/> can never be sent to the current broker, or null; call under _sync.</summary>
    private string? TooLarge(OutboxMessage message)
    {
        if (message.RemainingLength > OutboxMessage.ProtocolMaximumRemainingLength)
        {
            return $"it is {message.PacketSize} bytes, more than an MQTT packet can carry";
        }

        return message.PacketSize > _brokerMaximumPacketSize
            ? $"it is {message.PacketSize} bytes; the broker's Maximum Packet Size is {_brokerMaximumPacketSize}"
            : null;
    }

    /// <summary>Logs a publication given up and tells <see cref="MessageDropped"/> (unless that callback published it).</summary>
    private async Task ReportDroppedAsync(OutboxMessage message, string reason, string detail, CancellationToken cancellationToken)
    {
        MqttLog.MessageDropped(_logger, message.Topic, message.PacketSize, reason, detail);
        var callback = MessageDropped;
        if (callback is null || !message.Reportable)
        {
            return;
        }

        // Local to this call's async flow: publications made by the callback are marked unreportable.
        _reportingDrop.Value = true;
        try
        {
            await callback(new MqttDroppedMessage(message.Topic, message.PacketSize, reason, detail), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            MqttLog.CallbackFailed(_logger, exception, nameof(MessageDropped));
        }
    }

    private async Task OnMessageReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        e.AutoAcknowledge = false;
        var received = e.ApplicationMessage;
        var acknowledgement = new PendingAcknowledgement(e, _logger);
        var message = new MqttIncomingMessage(received.Topic, received.Payload.ToArray(), acknowledgement.AcknowledgeAsync)
        {
            ResponseTopic = received.ResponseTopic,
            CorrelationData = received.CorrelationData is { } correlation ? correlation.ToArray() : ReadOnlyMemory<byte>.Empty,
            UserProperties = received.UserProperties is { Count: > 0 } properties
                ? [.. properties.Select(p => new KeyValuePair<string, string>(p.Name, p.ReadValueAsString()))]
                : [],
            IsDuplicate = received.Dup,
        };

        var handler = MessageHandler;
        if (handler is null)
        {
            // Redelivery cannot help a message nobody handles; acknowledging keeps it from blocking the session.
            MqttLog.NoHandler(_logger, received.Topic);
            await acknowledgement.AcknowledgeAsync(_stopping).ConfigureAwait(false);
            return;
        }

        try
        {
            await handler(message, _stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping: left unacknowledged on purpose, the broker redelivers it next session.
        }
        catch (Exception exception)
        {
            // Whether the broker redelivers it depends on whether the handler acknowledged it before failing.
            if (acknowledgement.Sent)
            {
                MqttLog.HandlerFailedAfterAcknowledging(_logger, exception, received.Topic);
            }
            else
            {
                MqttLog.HandlerFailed(_logger, exception, received.Topic);
            }
        }
    }

    private Task OnClientDisconnected(IMqttClient client, MqttClientDisconnectedEventArgs e)
    {
        lock (_sync)
        {
            if (!ReferenceEquals(_client, client))
            {
                return Task.CompletedTask;
            }
        }

        if (e.ClientWasConnected)
        {
            MqttLog.ClientDisconnected(_logger, e.Reason.ToString(), e.ReasonString, e.Exception?.Message);
        }

        Wake();
        return Task.CompletedTask;
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

    /// <summary>Keeps the refusal of the first attempt (made before supervision starts) for <see cref="StartAsync"/>.</summary>
    private void RecordStartRefusal(MqttConnectionRefusedException refusal)
    {
        if (_supervisor is null)
        {
            _startRefusal = refusal;
        }
    }

    /// <summary>Refusals that the same CONNECT would get again: wrong credentials or permissions, a banned or invalid client id.</summary>
    private static bool IsPermanent(MqttClientConnectResultCode code) => code is MqttClientConnectResultCode.BadUserNameOrPassword
        or MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.Banned
        or MqttClientConnectResultCode.BadAuthenticationMethod or MqttClientConnectResultCode.ClientIdentifierNotValid
        or MqttClientConnectResultCode.UnsupportedProtocolVersion;

    /// <summary>The TLS handshake's failure (untrusted or mismatched certificate), if that is what ended the attempt.</summary>
    private static AuthenticationException? FindTlsFailure(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException tls)
            {
                return tls;
            }
        }

        return null;
    }

    private enum PublishOutcome
    {
        Published,
        Failed,
        Refused,
    }

    private static string Describe(Exception exception) =>
        exception.InnerException is { } inner ? $"{exception.Message} ({inner.Message})" : exception.Message;

    /// <summary>The PUBACK of one received message, sent at most once, on the connection (client) that received it.</summary>
    private sealed class PendingAcknowledgement(MqttApplicationMessageReceivedEventArgs e, ILogger logger)
    {
        private int _done;

        /// <summary>True once the handler asked for the PUBACK (whether or not it reached the broker).</summary>
        public bool Sent => Volatile.Read(ref _done) != 0;

        public async Task AcknowledgeAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
            {
                return;
            }

            // No IsConnected check: MQTTnet hands over messages queued for a resumed session before it reports
            // itself connected. A client is never reused, so a PUBACK cannot reach another connection; on a dead
            // one sending just fails and the broker redelivers.
            try
            {
                await e.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception exception)
            {
                MqttLog.AcknowledgeFailed(logger, e.ApplicationMessage.Topic, Describe(exception));
            }
        }
    }
}
