using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Became.Agent.Tests.Fleet;

/// <summary>One MQTT client that watches a whole fleet: every device's events and status (became/+/events, /status),
/// and optionally the broker's $SYS message counters; with credentials for a secured broker.</summary>
internal sealed class FleetObserver : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly ConcurrentQueue<(string Device, DateTime Received, JsonElement Event)> _events = new();
    private readonly ConcurrentDictionary<string, JsonElement> _statuses = new();
    private readonly ConcurrentDictionary<string, long> _sys = new();

    public IMqttClient Client => _client;

    /// <summary>Every event seen, with its device and when it arrived.</summary>
    public IReadOnlyList<(string Device, DateTime Received, JsonElement Event)> Events => [.. _events];

    /// <summary>The latest status of each device.</summary>
    public IReadOnlyDictionary<string, JsonElement> Statuses => _statuses;

    /// <summary>The broker's $SYS/broker/messages/{received,sent} counters, as last published (mosquitto).</summary>
    public IReadOnlyDictionary<string, long> Sys => _sys;

    /// <summary>When each group task (became/groups/+/tasks/{id}) reached this observer, by task id: the moment the
    /// broker had it and sent it on to the group.</summary>
    public ConcurrentDictionary<string, DateTime> GroupTasks { get; } = new();

    /// <summary>When the last $SYS counter arrived.</summary>
    public DateTime SysReceived { get; private set; }

    public static async Task<FleetObserver> ConnectAsync(int port, string? username = null, string? password = null, bool sys = false)
    {
        var observer = new FleetObserver();
        observer._client.ApplicationMessageReceivedAsync += e =>
        {
            string topic = e.ApplicationMessage.Topic;
            string text = topic.Contains("/tasks/", StringComparison.Ordinal) ? "" : e.ApplicationMessage.ConvertPayloadToString();
            if (topic.StartsWith("$SYS/", StringComparison.Ordinal))
            {
                if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n))
                {
                    observer._sys[topic["$SYS/broker/messages/".Length..]] = n;
                    observer.SysReceived = DateTime.UtcNow;
                }

                return Task.CompletedTask;
            }

            string[] levels = topic.Split('/');
            if (levels is [_, "groups", _, "tasks", string taskId])
            {
                observer.GroupTasks.TryAdd(taskId, DateTime.UtcNow);
                return Task.CompletedTask;
            }

            if (levels.Length == 3 && text.Length > 0)
            {
                var json = JsonDocument.Parse(text).RootElement.Clone();
                if (levels[2] == "status")
                {
                    observer._statuses[levels[1]] = json;
                }
                else
                {
                    observer._events.Enqueue((levels[1], DateTime.UtcNow, json));
                }
            }

            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("fleet-observer-" + Guid.NewGuid().ToString("N"));
        if (username is not null)
        {
            options.WithCredentials(username, password);
        }

        var connected = await observer._client.ConnectAsync(options.Build());
        Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("became/+/events", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("became/+/status", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("became/groups/+/tasks/#", MqttQualityOfServiceLevel.AtLeastOnce);
        if (sys)
        {
            subscribe.WithTopicFilter("$SYS/broker/messages/received", MqttQualityOfServiceLevel.AtMostOnce)
                .WithTopicFilter("$SYS/broker/messages/sent", MqttQualityOfServiceLevel.AtMostOnce);
        }

        await observer._client.SubscribeAsync(subscribe.Build());
        return observer;
    }

    public static string Type(JsonElement e) => e.GetProperty("type").GetString()!;

    public static string? TaskId(JsonElement e) => e.TryGetProperty("taskId", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>The events of one type for one task, by device.</summary>
    public ILookup<string, (string Device, DateTime Received, JsonElement Event)> Of(string type, string taskId) =>
        Events.Where(e => Type(e.Event) == type && TaskId(e.Event) == taskId).ToLookup(e => e.Device);

    /// <summary>Polls until <paramref name="condition"/> holds, failing after <paramref name="timeout"/> with what was seen.</summary>
    public async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No {what} within {timeout.TotalSeconds} s. Statuses: {string.Join(" | ", _statuses.Select(s => $"{s.Key}: {s.Value.GetRawText()}"))}\nEvents: {string.Join(" | ", _events.TakeLast(60).Select(e => $"{e.Device}: {e.Event.GetRawText()}"))}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
