using Microsoft.Extensions.Logging;
using MQTTnet;

namespace Became.Agent.Mqtt;

/// <summary>The PUBACK of one received message, sent at most once, on the connection (client) that received it.</summary>
internal sealed class MqttPendingAcknowledgement(MqttApplicationMessageReceivedEventArgs e, ILogger logger)
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
            MqttLog.AcknowledgeFailed(logger, e.ApplicationMessage.Topic, MqttFailures.Describe(exception));
        }
    }
}
