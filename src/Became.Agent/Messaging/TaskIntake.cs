using Became.Agent.Configuration;
using Became.Agent.Deployment;
using Became.Agent.Intake;
using Became.Agent.Protocol;
using Became.Agent.Mqtt;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Became.Agent.Messaging;

/// <summary>
/// Takes task messages from became/{deviceId}/tasks/{taskId} and from the device's groups,
/// became/groups/{group}/tasks/{taskId} (one task store: the same id and content on both is one task): validates, stores durably, and only then
/// acknowledges, so a crash before the commit means the broker delivers the task again. Rejections and
/// duplicates are acknowledged too (redelivering them would not change the answer) and announced as events. The payload
/// is inspected (<see cref="ITaskPayloadFormat.Inspect"/>), not decoded: its inputs are built only when the job trains.
/// </summary>
public sealed class TaskIntake(AgentStore store, IAgentEvents events, JobSignal signal, DeviceStatus status, ITaskPayloadFormat format, IOptions<AgentOptions> options, ILogger<TaskIntake> logger)
{
    private readonly AgentOptions _options = options.Value;

    private readonly string _groupsRoot = $"{options.Value.TopicRoot}/{Topics.Groups}/";

    public string TopicFilter => _options.Topic(Topics.TasksFilter);

    /// <summary>Whether <paramref name="topic"/> is a group's task topic, {root}/groups/{group}/tasks/{taskId}.</summary>
    public bool IsGroupTask(string topic) => GroupOf(topic) is not null;

    public async Task HandleAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        string prefix = _options.Topic(Topics.Tasks);
        string? group = null;
        string taskId = message.Topic.StartsWith(prefix, StringComparison.Ordinal) ? message.Topic[prefix.Length..] : message.Topic;
        if (GroupOf(message.Topic) is var (name, id))
        {
            if (!_options.Groups.Contains(name, StringComparer.Ordinal))
            {
                // Only the persistent session's subscription from an earlier Groups setting delivers these.
                logger.LogWarning("Ignored task {TaskId} of group {Group}: this device's Groups are [{Groups}]", id, name, string.Join(", ", _options.Groups));
                await message.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            (group, taskId) = (name, id);
        }

        Admission outcome;
        try
        {
            outcome = Admit(taskId, message.Payload);
        }
        catch (Exception e) when (StorageFailure.IsStoreError(e))
        {
            // Not stored, so not acknowledged: the broker delivers it again in the agent's next session. Say so, since
            // the sender otherwise hears nothing.
            await events.PublishAsync(taskId, new TaskDeferred(
                Reason: ErrorCodes.StorageError,
                Message: $"The task could not be stored ({e.Message}); it stays with the broker and is delivered again when the agent reconnects."), cancellationToken).ConfigureAwait(false);
            throw;
        }

        await message.AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
        switch (outcome)
        {
            case Admission.Accepted accepted:
                signal.Set();
                await events.PublishAsync(taskId, new TaskAccepted(
                    Name: accepted.Task.Name,
                    Samples: accepted.Task.Samples,
                    Classes: accepted.Task.Classes,
                    QueueLength: store.QueueLength,
                    Group: group), cancellationToken).ConfigureAwait(false);

                // The retained status shows the queue growing during a burst, not only when a job starts or ends.
                await events.PublishStatusAsync(status.Current(), cancellationToken).ConfigureAwait(false);
                break;
            case Admission.Duplicate duplicate:
                await events.PublishAsync(taskId, new TaskDuplicate(State: duplicate.Existing.State.ToString().ToLowerInvariant()), cancellationToken).ConfigureAwait(false);
                break;
            case Admission.Rejected rejected:
                await events.PublishAsync(taskId.Length > 200 ? taskId[..200] : taskId, new TaskRejected(
                    Reason: rejected.Reason,
                    Message: rejected.Message), cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    // {root}/groups/{group}/tasks/{taskId} -> (group, taskId); the task id is checked by Admit like any other.
    private (string Group, string TaskId)? GroupOf(string topic)
    {
        if (!topic.StartsWith(_groupsRoot, StringComparison.Ordinal))
        {
            return null;
        }

        string rest = topic[_groupsRoot.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && rest.AsSpan(slash + 1).StartsWith(Topics.Tasks, StringComparison.Ordinal)
            ? (rest[..slash], rest[(slash + 1 + Topics.Tasks.Length)..])
            : null;
    }

    /// <summary>Decides about one task message and stores it when accepted.</summary>
    public Admission Admit(string taskId, ReadOnlyMemory<byte> payload)
    {
        if (!TaskIdRules.IsValid(taskId, out string why))
        {
            return new Admission.Rejected(ErrorCodes.BadTaskId, why);
        }

        var existing = store.FindTask(taskId);
        if (existing is not null)
        {
            return existing.PayloadSha256 == BlobStore.Hash(payload.Span)
                ? new Admission.Duplicate(existing)
                : new Admission.Rejected(ErrorCodes.DuplicateId, $"Task id '{taskId}' was already used for different data; send new data under a new id.");
        }

        if (store.QueueLength >= _options.Limits.MaxQueuedTasks)
        {
            return new Admission.Rejected(ErrorCodes.QueueFull, $"{store.QueueLength} tasks are queued (Limits:MaxQueuedTasks = {_options.Limits.MaxQueuedTasks}); try again later.");
        }

        TaskPayloadSummary summary;
        try
        {
            summary = format.Inspect(payload, _options.TaskLimits);
            TaskPayloadRules.CheckSplit(summary);
        }
        catch (TaskRejectedException e)
        {
            return new Admission.Rejected(e.Reason, e.Message);
        }

        try
        {
            return new Admission.Accepted(store.AddTask(taskId, summary.Name, summary.Classes, summary.Count, summary.TestFraction, payload.Span));
        }
        catch (Exception e) when (StorageFailure.IsStoreError(e))
        {
            // Not stored, so not acknowledged either: the caller's exception leaves the message with the broker.
            logger.LogError(e, "Could not store task {TaskId}", taskId);
            throw;
        }
    }
}

/// <summary>What the intake decided about one task message.</summary>
public abstract record Admission
{
    /// <summary>Stored and queued.</summary>
    public sealed record Accepted(TaskRecord Task) : Admission;

    /// <summary>The same task (same id and content) was seen before.</summary>
    public sealed record Duplicate(TaskRecord Existing) : Admission;

    /// <summary>Refused, with a machine reason and a human message.</summary>
    public sealed record Rejected(string Reason, string Message) : Admission;
}
