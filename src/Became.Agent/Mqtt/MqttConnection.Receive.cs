using System.Buffers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

// Part of the class: received messages, disconnections and the callbacks they wake.
public sealed partial class MqttConnection
{
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
