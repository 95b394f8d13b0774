using Became.Protocol;
using MQTTnet;

namespace Became.Agent.Mqtt;

// Publishing what waits: the outbox flushed in order on a new connection, the size limits, and reporting a
// publication given up.
public sealed partial class MqttConnection
{
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

    private Task<PublishOutcome> TryPublishAsync(IMqttClient client, OutboxMessage message, CancellationToken cancellationToken) =>
        MqttPublisher.TryPublishAsync(client, message, _options.OperationTimeout, _stopping, _logger, cancellationToken);
}
