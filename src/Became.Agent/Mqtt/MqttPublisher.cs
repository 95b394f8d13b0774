using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Became.Agent.Mqtt;

/// <summary>How one publication ended.</summary>
internal enum PublishOutcome
{
    Published,
    Failed,
    Refused,
}

/// <summary>One QoS 1 publication of an outbox message on a given client.</summary>
internal static class MqttPublisher
{
    /// <summary>Publishes at QoS 1: Failed on a connection problem (the caller queues or counts the attempt),
    /// Published or Refused once the broker answered.</summary>
    public static async Task<PublishOutcome> TryPublishAsync(
        IMqttClient client, OutboxMessage message, TimeSpan operationTimeout, CancellationToken stopping, ILogger logger, CancellationToken cancellationToken)
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
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
            timeout.CancelAfter(operationTimeout);
            result = await client.PublishAsync(applicationMessage, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            MqttLog.PublishDeferred(logger, message.Topic, MqttFailures.Describe(exception));
            return PublishOutcome.Failed;
        }

        // A refusal (not authorized, quota, ...) would be refused again: report it rather than retry.
        if (!result.IsSuccess)
        {
            MqttLog.PublishRejected(logger, message.Topic, result.ReasonCode.ToString(), result.ReasonString);
            return PublishOutcome.Refused;
        }

        return PublishOutcome.Published;
    }
}
