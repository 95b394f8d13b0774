using MQTTnet;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

// The supervisor: the reconnect loop with backoff, health checks, one connection attempt (CONNECT, subscriptions,
// outbox flush) and forgetting a dead connection.
public sealed partial class MqttConnection
{
    private long _reconnects;

    /// <summary>Connections made by supervision after the first attempt (each one a reconnect), for the metrics.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

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
                    Interlocked.Increment(ref _reconnects);
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
            result = await client.ConnectAsync(_clientSettings.Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            throw;
        }
        catch (Exception exception)
        {
            client.Dispose();
            MqttLog.ConnectFailed(_logger, _options.Host, _options.Port, MqttFailures.Describe(exception));
            if (MqttFailures.FindTlsFailure(exception) is { } tls)
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
            if (MqttFailures.IsPermanent(result.ResultCode))
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
            MqttLog.ConnectFailed(_logger, _options.Host, _options.Port, "subscribing: " + MqttFailures.Describe(exception));
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

    /// <summary>Keeps the refusal of the first attempt (made before supervision starts) for <see cref="StartAsync"/>.</summary>
    private void RecordStartRefusal(MqttConnectionRefusedException refusal)
    {
        if (_supervisor is null)
        {
            _startRefusal = refusal;
        }
    }

    private Task OnMessageReceivedAsync(MqttApplicationMessageReceivedEventArgs e) => MqttReceiver.DeliverAsync(e, MessageHandler, _logger, _stopping);
}
