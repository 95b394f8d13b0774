using System.Text.Json;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;

namespace Became.Protocol;

/// <summary>What <c>became publish --wait</c> waits for.</summary>
public enum PublishWait
{
    /// <summary>Nothing: done once the broker has the messages.</summary>
    None,

    /// <summary>The device's task.accepted for every task.</summary>
    Accepted,

    /// <summary>The device's model.deployed for every task (after its task.accepted).</summary>
    Deployed,
}

/// <summary>Where tasks go: one device's task topics, or a group's (every device of it learns them).</summary>
/// <param name="TopicRoot">The topic root (became).</param>
/// <param name="Name">The device id, or the group.</param>
/// <param name="IsGroup">True for a group.</param>
public sealed record TaskDestination(string TopicRoot, string Name, bool IsGroup)
{
    /// <summary>The tasks of one device: {root}/{device}/tasks/{taskId}.</summary>
    public static TaskDestination Device(string topicRoot, string device) => new(topicRoot, device, false);

    /// <summary>The tasks of a group: {root}/groups/{group}/tasks/{taskId}.</summary>
    public static TaskDestination Group(string topicRoot, string group) => new(topicRoot, group, true);

    /// <summary>The topic of one task.</summary>
    public string TaskTopic(string taskId) => IsGroup ? Topics.GroupTask(TopicRoot, Name, taskId) : Topics.Task(TopicRoot, Name, taskId);

    /// <summary>The device's events (a group has none of its own).</summary>
    public string EventsTopic => IsGroup ? throw new InvalidOperationException("a group has no events topic; follow its devices") : Topics.EventsOf(TopicRoot, Name);
}

/// <summary>Sends task payloads to a device's task topic at QoS 1, as any external MQTT client would, and optionally
/// follows the device's events (became/{device}/events) until each task is accepted or deployed.</summary>
public static class TaskPublisher
{
    /// <summary>Publishes the tasks without waiting for the device (the demo feeder's way).</summary>
    public static async Task PublishAsync(string host, int port, string topicRoot, string deviceId, IEnumerable<(string TaskId, byte[] Payload)> tasks, TextWriter log, CancellationToken cancellationToken) =>
        await PublishAsync(host, port, TaskDestination.Device(topicRoot, deviceId), tasks, log, log, PublishWait.None, TimeSpan.Zero, null, cancellationToken).ConfigureAwait(false);

    /// <summary>Publishes the tasks, then waits as asked; returns the exit code: 0 when every task got as far as asked,
    /// 1 when the device rejected one (task.rejected, task.duplicate, model.rejected, a final job.failed) or time ran out.
    /// <paramref name="login"/> is the account on a secured broker (null: anonymous).</summary>
    public static async Task<int> PublishAsync(
        string host, int port, TaskDestination destination, IEnumerable<(string TaskId, byte[] Payload)> tasks,
        TextWriter log, TextWriter error, PublishWait wait, TimeSpan timeout, BrokerLogin? login, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var client = new MqttClientFactory().CreateMqttClient();
        var events = Channel.CreateUnbounded<JsonElement>();
        client.ApplicationMessageReceivedAsync += e =>
        {
            try
            {
                using var document = JsonDocument.Parse(e.ApplicationMessage.Payload);
                events.Writer.TryWrite(document.RootElement.Clone());
            }
            catch (JsonException)
            {
                // Not an event of this contract; nothing to follow.
            }

            return Task.CompletedTask;
        };
        using var settings = new MqttClientSettings(MqttEndpoint.Tool(host, port, login, "became-publish") with { OperationTimeout = TimeSpan.FromSeconds(30) });
        await client.ConnectOrExplainAsync(settings.Build(), host, port, login, cancellationToken).ConfigureAwait(false);

        if (wait != PublishWait.None)
        {
            // Subscribed before the first task goes out, so no answer can come before we listen.
            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(destination.EventsTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
        }

        var pending = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var (taskId, payload) in tasks)
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(destination.TaskTopic(taskId))
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var result = await client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                throw new IOException($"Publishing {taskId} failed: {result.ReasonCode} {result.ReasonString}");
            }

            pending[taskId] = false;
            await log.WriteLineAsync($"published {taskId} ({payload.Length / 1024.0 / 1024.0:F1} MiB) to {message.Topic}").ConfigureAwait(false);
        }

        int exitCode = ExitCodes.Ok;
        if (wait != PublishWait.None)
        {
            exitCode = await FollowAsync(events.Reader, pending, wait, timeout, log, error, cancellationToken).ConfigureAwait(false);
        }

        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
        return exitCode;
    }

    // pending: task id -> accepted yet.
    private static async Task<int> FollowAsync(ChannelReader<JsonElement> events, Dictionary<string, bool> pending, PublishWait wait, TimeSpan timeout, TextWriter log, TextWriter error, CancellationToken cancellationToken)
    {
        int exitCode = ExitCodes.Ok;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (pending.Count > 0)
            {
                var e = await events.ReadAsync(deadline.Token).ConfigureAwait(false);
                string? type = Text(e, "type");
                string? taskId = Text(e, "taskId");
                if (taskId is null || !pending.TryGetValue(taskId, out bool accepted))
                {
                    continue;
                }

                switch (type)
                {
                    case EventTypes.TaskAccepted:
                        await log.WriteLineAsync($"accepted {taskId}").ConfigureAwait(false);
                        if (wait == PublishWait.Accepted)
                        {
                            pending.Remove(taskId);
                        }
                        else
                        {
                            pending[taskId] = true;
                        }

                        break;
                    case EventTypes.TaskRejected:
                        await error.WriteLineAsync($"became publish: the device rejected {taskId}: {Text(e, "reason")}: {Text(e, "message")}").ConfigureAwait(false);
                        pending.Remove(taskId);
                        exitCode = ExitCodes.Failure;
                        break;
                    case EventTypes.TaskDuplicate:
                        await error.WriteLineAsync($"became publish: the device already has a task {taskId} (task.duplicate): it is not learned again; give the new task a new id").ConfigureAwait(false);
                        pending.Remove(taskId);
                        exitCode = ExitCodes.Failure;
                        break;
                    case EventTypes.ModelDeployed when accepted:
                        await log.WriteLineAsync($"deployed {taskId} as model version {Text(e, "version")}").ConfigureAwait(false);
                        pending.Remove(taskId);
                        break;
                    case EventTypes.ModelRejected when accepted:
                        await error.WriteLineAsync($"became publish: {taskId} was learned but its model version {Text(e, "version")} was not deployed: {Text(e, "reason")}").ConfigureAwait(false);
                        pending.Remove(taskId);
                        exitCode = ExitCodes.Failure;
                        break;
                    case EventTypes.JobFailed when accepted:
                        bool retry = e.TryGetProperty("retry", out var r) && r.ValueKind == JsonValueKind.True;
                        await (retry ? log : error).WriteLineAsync($"{(retry ? "" : "became publish: ")}training {taskId} failed{(retry ? " (the device retries it)" : "")}: {Text(e, "reason")}").ConfigureAwait(false);
                        if (!retry)
                        {
                            pending.Remove(taskId);
                            exitCode = ExitCodes.Failure;
                        }

                        break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"became publish: no answer within {timeout.TotalSeconds:0.#} s for {string.Join(", ", pending.Keys)} (is the device {(pending.Values.Any(a => a) ? "still training" : "running and subscribed")}? --timeout gives it longer)").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        return exitCode;
    }

    private static string? Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var value)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;
}
