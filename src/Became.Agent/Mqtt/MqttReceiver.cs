using System.Buffers;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;

namespace Became.Agent.Mqtt;

/// <summary>Hands a received message to the handler, to be acknowledged only when the handler says so.</summary>
internal static class MqttReceiver
{
    /// <summary>Delivers one message to <paramref name="handler"/>; if it throws, the error is logged and the message
    /// stays unacknowledged (unless the handler acknowledged it first), so the broker redelivers it.</summary>
    public static async Task DeliverAsync(
        MqttApplicationMessageReceivedEventArgs e, Func<MqttIncomingMessage, CancellationToken, Task>? handler, ILogger logger, CancellationToken stopping)
    {
        e.AutoAcknowledge = false;
        var received = e.ApplicationMessage;
        var acknowledgement = new MqttPendingAcknowledgement(e, logger);
        var message = new MqttIncomingMessage(received.Topic, received.Payload.ToArray(), acknowledgement.AcknowledgeAsync)
        {
            ResponseTopic = received.ResponseTopic,
            CorrelationData = received.CorrelationData is { } correlation ? correlation.ToArray() : ReadOnlyMemory<byte>.Empty,
            UserProperties = received.UserProperties is { Count: > 0 } properties
                ? [.. properties.Select(p => new KeyValuePair<string, string>(p.Name, p.ReadValueAsString()))]
                : [],
            IsDuplicate = received.Dup,
        };

        if (handler is null)
        {
            // Redelivery cannot help a message nobody handles; acknowledging keeps it from blocking the session.
            MqttLog.NoHandler(logger, received.Topic);
            await acknowledgement.AcknowledgeAsync(stopping).ConfigureAwait(false);
            return;
        }

        try
        {
            await handler(message, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping: left unacknowledged on purpose, the broker redelivers it next session.
        }
        catch (Exception exception)
        {
            // Whether the broker redelivers it depends on whether the handler acknowledged it before failing.
            if (acknowledgement.Sent)
            {
                MqttLog.HandlerFailedAfterAcknowledging(logger, exception, received.Topic);
            }
            else
            {
                MqttLog.HandlerFailed(logger, exception, received.Topic);
            }
        }
    }
}
