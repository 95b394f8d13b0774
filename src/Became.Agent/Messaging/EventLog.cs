using Became.Agent.Protocol;
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
                Line(LogLevel.Information, EventLogLine.Describe(line.TaskId, line.Progress));
            }

            return;
        }

        if (_progress.Flush(taskId) is { } held)
        {
            Line(LogLevel.Information, EventLogLine.Describe(held.TaskId, held.Progress));
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

        Line(LevelOf(type), EventLogLine.Describe(taskId, body, merge));
    }

    private void Line(LogLevel level, string line)
    {
        if (logger.IsEnabled(level))
        {
            logger.Log(level, "{Summary}", line);
        }
    }
}
