using Became.Protocol;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Mqtt;

/// <summary>Source-generated log messages of the MQTT layer (event ids 4000-4099).</summary>
internal static partial class MqttLog
{
    [LoggerMessage(4000, LogLevel.Information, "Embedded MQTT broker listening on 127.0.0.1:{Port}")]
    public static partial void BrokerStarted(ILogger logger, int port);

    [LoggerMessage(4001, LogLevel.Information, "Embedded MQTT broker on 127.0.0.1:{Port} stopped")]
    public static partial void BrokerStopped(ILogger logger, int port);

    [LoggerMessage(4002, LogLevel.Debug, "Embedded broker: client {ClientId} connected")]
    public static partial void BrokerClientConnected(ILogger logger, string clientId);

    [LoggerMessage(4003, LogLevel.Debug, "Embedded broker: client {ClientId} disconnected ({DisconnectType})")]
    public static partial void BrokerClientDisconnected(ILogger logger, string clientId, string disconnectType);

    [LoggerMessage(4010, LogLevel.Information,
        "MQTT connected to {Host}:{Port} as {ClientId} (session present: {SessionPresent}, outbox: {OutboxCount})")]
    public static partial void Connected(ILogger logger, string host, int port, string clientId, bool sessionPresent, int outboxCount);

    [LoggerMessage(4011, LogLevel.Warning, "MQTT broker {Host}:{Port} refused the connection: {ResultCode} {Reason}")]
    public static partial void ConnectRefused(ILogger logger, string host, int port, string resultCode, string? reason);

    [LoggerMessage(4012, LogLevel.Warning, "MQTT connection to {Host}:{Port} failed: {Error}")]
    public static partial void ConnectFailed(ILogger logger, string host, int port, string error);

    [LoggerMessage(4013, LogLevel.Debug, "MQTT reconnecting in {Delay} (failed attempts: {Failures})")]
    public static partial void ReconnectScheduled(ILogger logger, TimeSpan delay, int failures);

    [LoggerMessage(4014, LogLevel.Error, "MQTT subscription to {TopicFilter} refused: {ResultCode}")]
    public static partial void SubscribeRefused(ILogger logger, string topicFilter, string resultCode);

    [LoggerMessage(4015, LogLevel.Debug, "MQTT subscribed to {Count} topic filters (no session on the broker)")]
    public static partial void Subscribed(ILogger logger, int count);

    [LoggerMessage(4016, LogLevel.Warning, "MQTT connection lost: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string reason);

    [LoggerMessage(4017, LogLevel.Information, "MQTT disconnected by the client library: {Reason} {ReasonString} {Error}")]
    public static partial void ClientDisconnected(ILogger logger, string reason, string? reasonString, string? error);

    [LoggerMessage(4018, LogLevel.Information, "MQTT disconnected cleanly from {Host}:{Port}")]
    public static partial void DisconnectedCleanly(ILogger logger, string host, int port);

    [LoggerMessage(4019, LogLevel.Warning, "MQTT clean disconnect failed: {Error}")]
    public static partial void DisconnectFailed(ILogger logger, string error);

    [LoggerMessage(4020, LogLevel.Error, "MQTT message handler failed on {Topic}; not acknowledged, the broker redelivers it next session")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(4022, LogLevel.Error, "MQTT message handler failed on {Topic} after acknowledging it; the broker does not redeliver it")]
    public static partial void HandlerFailedAfterAcknowledging(ILogger logger, Exception exception, string topic);

    [LoggerMessage(4021, LogLevel.Warning, "MQTT message on {Topic} arrived without a handler; acknowledged and dropped")]
    public static partial void NoHandler(ILogger logger, string topic);

    [LoggerMessage(4023, LogLevel.Warning, "MQTT acknowledgement of {Topic} failed ({Error}); the broker redelivers it next session")]
    public static partial void AcknowledgeFailed(ILogger logger, string topic, string error);

    [LoggerMessage(4030, LogLevel.Warning, "MQTT broker rejected the publication on {Topic}: {ReasonCode} {Reason}")]
    public static partial void PublishRejected(ILogger logger, string topic, string reasonCode, string? reason);

    [LoggerMessage(4031, LogLevel.Debug, "MQTT publication on {Topic} failed ({Error}); kept in the outbox")]
    public static partial void PublishDeferred(ILogger logger, string topic, string error);

    [LoggerMessage(4032, LogLevel.Warning, "MQTT outbox full ({Capacity}); dropped the oldest message, on {Topic}")]
    public static partial void OutboxDropped(ILogger logger, int capacity, string topic);

    [LoggerMessage(4033, LogLevel.Information, "MQTT outbox flushed: {Count} messages published after reconnecting")]
    public static partial void OutboxFlushed(ILogger logger, int count);

    [LoggerMessage(4035, LogLevel.Warning, "MQTT publication on {Topic} ({Bytes} bytes) dropped, {Reason}: {Detail}")]
    public static partial void MessageDropped(ILogger logger, string topic, long bytes, string reason, string detail);

    [LoggerMessage(4034, LogLevel.Warning, "MQTT connection stopped with {Count} unpublished messages in the outbox")]
    public static partial void OutboxLost(ILogger logger, int count);

    [LoggerMessage(4040, LogLevel.Error, "MQTT {Callback} callback failed")]
    public static partial void CallbackFailed(ILogger logger, Exception exception, string callback);

    [LoggerMessage(4041, LogLevel.Error, "MQTT connection supervisor failed; retrying")]
    public static partial void SupervisorFailed(ILogger logger, Exception exception);
}
