using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Messaging;

/// <summary>One training epoch as reported: the task and its progress event.</summary>
public sealed record ProgressLine(string? TaskId, TrainingProgress Progress);

/// <summary>
/// Which <c>training.progress</c> events reach the console: the first epoch of each stage, the last (the schedule's
/// maximum, or the one held back when the next stage or any other event of the job arrives), and in between at most
/// one every <see cref="Interval"/>. A short task prints two lines per stage; an AlexNet task one every ten seconds
/// instead of minutes of silence.
/// </summary>
public sealed class ProgressLogLimiter(TimeProvider time, TimeSpan? interval = null)
{
    /// <summary>The default gap between two progress lines of one stage.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private (string? TaskId, int Stage)? _stage;
    private DateTimeOffset _shownAt;
    private ProgressLine? _held;

    /// <summary>The least time between two lines of one stage (its first and last epoch always show).</summary>
    public TimeSpan Interval { get; } = interval ?? DefaultInterval;

    /// <summary>The progress lines to write now, oldest first: none, this one, or the previous stage's held last epoch
    /// followed by this one.</summary>
    public IReadOnlyList<ProgressLine> Offer(string? taskId, TrainingProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var now = time.GetUtcNow();
        lock (_gate)
        {
            var line = new ProgressLine(taskId, progress);
            if (_stage != (taskId, progress.Stage))
            {
                var previous = _held;
                _held = null;
                _stage = (taskId, progress.Stage);
                _shownAt = now;
                return previous is null ? [line] : [previous, line];
            }

            if (progress.Epoch >= progress.Epochs || now - _shownAt >= Interval)
            {
                _held = null;
                _shownAt = now;
                return [line];
            }

            _held = line;
            return [];
        }
    }

    /// <summary>The held-back last epoch of <paramref name="taskId"/>, if any, to write before another event of its job
    /// (merged, deployed, failed); events of other tasks (one accepted meanwhile) leave it held.</summary>
    public ProgressLine? Flush(string? taskId)
    {
        lock (_gate)
        {
            if (_stage?.TaskId != taskId)
            {
                return null;
            }

            var held = _held;
            _held = null;
            _stage = null;
            return held;
        }
    }
}
