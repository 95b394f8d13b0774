using System.Buffers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

// Part of the class: the supervision loop: connect with backoff, watch the link, subscribe.
public sealed partial class MqttConnection
{
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
}
