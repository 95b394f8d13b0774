using System.Buffers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

// Part of the class: publishing the outbox in order after a (re)connection, and giving up what the broker cannot take.
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
}
