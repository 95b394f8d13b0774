using System.Collections.Concurrent;
using System.Text.Json;
using Became.Agent.Mqtt;
using Microsoft.Extensions.Logging;

namespace Became.Testing;

/// <summary>
/// Watches a device's events through the agent's own reconnecting connection type with a persistent session, so it
/// survives a broker restart and receives what the broker queued for it meanwhile.
/// </summary>
internal sealed class EventWatcher : IAsyncDisposable
{
    private readonly ConcurrentQueue<(JsonElement Event, DateTimeOffset ReceivedAt)> _events = new();
    private readonly MqttConnection _connection;

    private EventWatcher(MqttConnection connection) => _connection = connection;

    public IReadOnlyList<(JsonElement Event, DateTimeOffset ReceivedAt)> Events => [.. _events];

    public static async Task<EventWatcher> StartAsync(int port, string deviceId, ILoggerFactory loggers)
    {
        var connection = new MqttConnection(new MqttConnectionOptions
        {
            Host = "127.0.0.1",
            Port = port,
            ClientId = "watcher-" + Guid.NewGuid().ToString("N"),
            ReconnectMin = TimeSpan.FromMilliseconds(50),
            ReconnectMax = TimeSpan.FromMilliseconds(250),
            HealthCheckInterval = TimeSpan.FromMilliseconds(200),
            Subscriptions = [$"became/{deviceId}/events"],
        }, loggers.CreateLogger<MqttConnection>());
        var watcher = new EventWatcher(connection);
        connection.MessageHandler = async (message, ct) =>
        {
            await message.AcknowledgeAsync(ct);
            watcher._events.Enqueue((JsonDocument.Parse(message.Payload).RootElement.Clone(), DateTimeOffset.UtcNow));
        };
        await connection.StartAsync(CancellationToken.None);
        return watcher;
    }

    /// <summary>Polls until an event of <paramref name="type"/> for <paramref name="taskId"/> arrived.</summary>
    public async Task<(JsonElement Event, DateTimeOffset ReceivedAt)> WaitForAsync(string type, string taskId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var entry in _events)
            {
                if (entry.Event.GetProperty("type").GetString() == type && entry.Event.GetProperty("taskId").GetString() == taskId)
                {
                    return entry;
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"No {type} for {taskId} within {timeout.TotalSeconds} s; saw {_events.Count} events.");
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
