using Became.Agent.Protocol;
using Became.Protocol;
using Microsoft.Extensions.Logging;

namespace Became.Agent.Messaging;

/// <summary>
/// Writes each event to the log as one human line (<see cref="EventLogLine"/>) at Information, or Warning for
/// refusals and failures, and its full JSON at Debug. Training progress is rate-limited (<see cref="ProgressLogLimiter"/>);
/// a task's merge coefficient is folded into its deployed line rather than a line of its own.
/// </summary>
public sealed class EventLog(ILogger logger, TimeProvider time, TimeSpan? progressInterval = null)
{
    private readonly ProgressLogLimiter _progress = new(time, progressInterval);
    private readonly Lock _gate = new();
    private (string? TaskId, double Coefficient)? _merge;

    /// <summary>The level of an event's line.</summary>
    public static LogLevel LevelOf(string type) => type switch
    {
        EventTypes.TaskRejected or EventTypes.TaskDeferred or EventTypes.JobFailed or EventTypes.JobInterrupted
            or EventTypes.ModelCorrupt or EventTypes.ModelRejected or EventTypes.MessageDropped => LogLevel.Warning,
        EventTypes.ModelMerged => LogLevel.Debug,
        _ => LogLevel.Information,
    };

    /// <summary>Logs one published event.</summary>
    public void Write(string type, string? taskId, IAgentEvent body, string json)
    {
        ArgumentNullException.ThrowIfNull(body);
        logger.LogDebug("Event {Type} {TaskId}: {Event}", type, taskId, json);
        if (body is TrainingProgress progress)
        {
            foreach (var line in _progress.Offer(taskId, progress))
            {
                Line(LogLevel.Information, EventTypes.TrainingProgress, line.TaskId, EventLogLine.Describe(line.TaskId, line.Progress));
            }

            return;
        }

        if (_progress.Flush(taskId) is { } held)
        {
            Line(LogLevel.Information, EventTypes.TrainingProgress, held.TaskId, EventLogLine.Describe(held.TaskId, held.Progress));
        }

        double? merge = null;
        lock (_gate)
        {
            if (body is ModelMerged merged)
            {
                _merge = (taskId, merged.MergeCoefficient);
            }
            else if (body is ModelDeployed && _merge is { } m && m.TaskId == taskId)
            {
                merge = m.Coefficient;
                _merge = null;
            }
        }

        Line(LevelOf(type), type, taskId, EventLogLine.Describe(taskId, body, merge));
    }

    private void Line(LogLevel level, string type, string? taskId, string line)
    {
        if (logger.IsEnabled(level))
        {
            // The text formats show the line alone; the JSON format also gets the event's type and task as fields.
            logger.Log(level, default, new LineState(line, type, taskId), null, static (state, _) => state.Summary);
        }
    }

    /// <summary>A line's structured fields, as a message template's would be: <c>{Summary}</c> plus Type and TaskId.</summary>
    private sealed record LineState(string Summary, string Type, string? TaskId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 4;

        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("Summary", Summary),
            1 => new("Type", Type),
            2 => new("TaskId", TaskId),
            3 => new("{OriginalFormat}", "{Summary}"),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            for (int i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => Summary;
    }
}
