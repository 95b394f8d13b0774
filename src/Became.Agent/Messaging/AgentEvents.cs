using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Became.Agent.Configuration;
using Became.Agent.Mqtt;
using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Messaging;

/// <summary>Publishes events (JSON, camelCase, each with type, taskId and time) and the retained status, and logs each as one line (<see cref="EventLog"/>).</summary>
public sealed class AgentEvents(MqttConnection connection, IOptions<AgentOptions> options, TimeProvider time, ILogger<AgentEvents> logger, EventFeed feed) : IAgentEvents
{
    /// <summary>The wire's JSON settings (camelCase); kept here for callers of the earlier name.</summary>
    public static JsonSerializerOptions Json => AgentJson.Options;

    private readonly string _eventsTopic = options.Value.Topic(Topics.Events);
    private readonly string _statusTopic = options.Value.Topic(Topics.Status);
    private readonly EventLog _log = new(logger, time);

    public string StatusTopic => _statusTopic;

    /// <summary>Publishes one event: type, taskId and time first, then the event's own fields (camelCase names).</summary>
    public async Task PublishAsync<TEvent>(string? taskId, TEvent body, CancellationToken cancellationToken)
        where TEvent : IAgentEvent
    {
        string type = TEvent.Type;
        var now = time.GetUtcNow();
        var message = new JsonObject
        {
            ["type"] = type,
            ["taskId"] = taskId,
            ["time"] = now,
        };
        var fields = JsonSerializer.SerializeToNode(body, (JsonTypeInfo<TEvent>)AgentJsonContext.Default.GetTypeInfo(typeof(TEvent))!)!.AsObject();
        foreach (var (name, value) in fields.ToList())
        {
            fields.Remove(name);
            message[name] = value;
        }

        string json = message.ToJsonString(Json);
        feed.Add(type, taskId, now, json, body);
        _log.Write(type, taskId, body, json);

        await connection.PublishAsync(_eventsTopic, System.Text.Encoding.UTF8.GetBytes(json), retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reports a publication the connection gave up (a reply or event the broker cannot take) as a
    /// <c>message.dropped</c> event; meant for <see cref="MqttConnection.MessageDropped"/>, which never reports the
    /// loss of this event in turn.
    /// </summary>
    public Task ReportDroppedAsync(MqttDroppedMessage dropped, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dropped);
        return PublishAsync(null, new MessageDropped(
            Topic: dropped.Topic,
            Bytes: dropped.Bytes,
            Reason: dropped.Reason,
            Message: dropped.Detail), cancellationToken);
    }

    /// <summary>Publishes the retained status (DeviceStatus adds the device's groups, so a fleet view can filter by group).</summary>
    public Task PublishStatusAsync(AgentStatus status, CancellationToken cancellationToken) =>
        connection.PublishAsync(_statusTopic, JsonSerializer.SerializeToUtf8Bytes(status, AgentJsonContext.Default.AgentStatus), retain: true, cancellationToken);

    /// <summary>The payload of the last will: status offline (with the groups, so the device stays in its group's view).</summary>
    public static byte[] OfflineStatus(int deployedVersion = 0, IReadOnlyList<string>? groups = null, string? deviceId = null) =>
        JsonSerializer.SerializeToUtf8Bytes(new AgentStatus(AgentState.Offline, deployedVersion, 0, 0, null, DateTimeOffset.UtcNow, Groups: groups is { Count: > 0 } ? groups : null, DeviceId: deviceId), AgentJsonContext.Default.AgentStatus);
}
