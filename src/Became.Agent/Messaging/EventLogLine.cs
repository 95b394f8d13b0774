using System.Globalization;
using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Messaging;

/// <summary>
/// The one short console line of each event, with figures rounded for people: percent with one decimal, seconds to
/// one to three significant digits, losses with three decimals, counts with thousands separators. The full JSON goes
/// to the log at Debug beside it (<see cref="EventLog"/>).
/// </summary>
public static class EventLogLine
{
    // More tasks than this and a deployed line gives the new task, the mean and the lowest instead of every figure.
    private const int ListedTasks = 6;

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The line of one event; <paramref name="mergeCoefficient"/> is the task's merge (model.merged), folded
    /// into its model.deployed line.</summary>
    public static string Describe(string? taskId, IAgentEvent body, double? mergeCoefficient = null) => body switch
    {
        TaskAccepted e => $"task {taskId}{Named(taskId, e.Name)} accepted: {Count(e.Samples)} samples, {e.Classes} classes, queue {e.QueueLength}",
        TaskDuplicate e => $"task {taskId} came again with the same data: already {e.State}, not learned again",
        TaskRejected e => $"task {taskId} rejected ({e.Reason}): {e.Message}",
        TaskDeferred e => $"task {taskId} deferred ({e.Reason}): {e.Message}; the broker delivers it again",
        TrainingProgress e => Progress(taskId, e),
        ModelMerged e => $"task {taskId} merged: a={Coefficient(e.MergeCoefficient)}",
        ModelDeployed e => Deployed(taskId, e, mergeCoefficient),
        ModelRejected e => $"v{e.Version} not deployed ({e.Reason}); v{e.DeployedVersion} keeps serving: {Accuracies(taskId, e.Accuracy)}",
        ModelCorrupt e => $"v{e.Version} corrupt, serving v{e.FallbackVersion}: {string.Join("; ", e.Reasons)}" +
            (e.LostTasks.Count == 0 ? string.Empty : $"; tasks to learn again: {string.Join(", ", e.LostTasks)}"),
        JobFailed e => Failed(taskId, e),
        JobInterrupted e => $"task {taskId} was interrupted{(e.StartedAt is { } s ? $" (started {s.ToUniversalTime().ToString("HH:mm:ss", Invariant)} UTC)" : string.Empty)}: " +
            $"it trains again from the beginning{(e.RemovedOrphanBlobs > 0 ? $"; removed {e.RemovedOrphanBlobs} unreferenced files" : string.Empty)}",
        RequestRejected e => $"{e.Request} request rejected ({e.Reason}): {e.Message}",
        MessageDropped e => $"message to {e.Topic} ({Bytes(e.Bytes)}) dropped ({e.Reason}): {e.Message}",
        _ => $"{body.GetType().Name} {taskId}",
    };

    /// <summary>A percentage with one decimal: <c>97.6%</c>.</summary>
    public static string Percent(double value) => double.IsFinite(value) ? value.ToString("0.0", Invariant) + "%" : "n/a";

    /// <summary>Seconds to one to three significant digits (<c>0.42 s</c>, <c>3.2 s</c>, <c>42 s</c>, <c>123 s</c>),
    /// minutes from ten minutes on (<c>14 min</c>).</summary>
    public static string Seconds(double seconds) => seconds switch
    {
        double.NaN => "n/a",
        < 0.01 => "<0.01 s",
        < 1 => seconds.ToString("0.##", Invariant) + " s",
        < 10 => seconds.ToString("0.0", Invariant) + " s",
        < 600 => Math.Round(seconds).ToString("0", Invariant) + " s",
        _ => Math.Round(seconds / 60).ToString("#,0", Invariant) + " min",
    };

    /// <summary>A loss with three decimals (<c>n/a</c> when the epoch gave none).</summary>
    public static string Loss(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("0.000", Invariant) : "n/a";

    /// <summary>A count with thousands separators: <c>6,000</c>.</summary>
    public static string Count(long value) => value.ToString("#,0", Invariant);

    /// <summary>A size in B, KiB or MiB with one decimal.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", Invariant) + " KiB",
        _ => (bytes / 1048576.0).ToString("#,0.0", Invariant) + " MiB",
    };

    /// <summary>The held-out accuracy of every task, or for many tasks the given one's, the mean and the lowest.</summary>
    public static string Accuracies(string? taskId, IReadOnlyDictionary<string, double> accuracy)
    {
        ArgumentNullException.ThrowIfNull(accuracy);
        if (accuracy.Count == 0)
        {
            return "no accuracy figures";
        }

        if (accuracy.Count <= ListedTasks)
        {
            return string.Join(", ", accuracy.Select(a => $"{a.Key} {Percent(a.Value)}"));
        }

        var lowest = accuracy.MinBy(a => a.Value);
        string own = taskId is not null && accuracy.TryGetValue(taskId, out double mine) ? $"{taskId} {Percent(mine)}; " : string.Empty;
        return $"{own}{accuracy.Count} tasks, mean {Percent(accuracy.Values.Average())}, lowest {lowest.Key} {Percent(lowest.Value)}";
    }

    private static string Coefficient(double a) => a.ToString("0.00", Invariant);

    private static string Named(string? taskId, string? name) =>
        string.IsNullOrWhiteSpace(name) || name == taskId ? string.Empty : $" ({name})";

    private static string Progress(string? taskId, TrainingProgress e)
    {
        string validation = e.ValidationAccuracy is { } acc ? $", val acc {Percent(acc)}" : string.Empty;
        return $"task {taskId} stage {e.Stage} epoch {e.Epoch}/{e.Epochs}: loss {Loss(e.Loss)}, val loss {Loss(e.ValidationLoss)}{validation}";
    }

    private static string Deployed(string? taskId, ModelDeployed e, double? mergeCoefficient)
    {
        if (e.Rollback == true)
        {
            return $"v{e.Version} deployed again (rollback): {Accuracies(null, e.Accuracy)}";
        }

        var notes = new List<string>();
        if (e.AdoptedFrom is { } from)
        {
            notes.Add($"adopted from {from.Device} v{from.Version}");
        }

        if (e.TrainingSeconds is { } seconds)
        {
            notes.Add($"trained in {Seconds(seconds)}");
        }

        if (mergeCoefficient is { } a)
        {
            notes.Add($"merge a={Coefficient(a)}");
        }

        return $"v{e.Version} deployed: {Accuracies(taskId, e.Accuracy)}{(notes.Count == 0 ? string.Empty : $" ({string.Join(", ", notes)})")}";
    }

    private static string Failed(string? taskId, JobFailed e)
    {
        if (e.Committed == true)
        {
            return $"task {taskId} learned into v{e.Version}, then a later step failed: {e.Reason}";
        }

        return e.Retry
            ? $"task {taskId} failed{(e.Attempt is { } n ? $" (attempt {n})" : string.Empty)}, stays queued{(e.RetryInSeconds is { } s ? $", retry in {Seconds(s)}" : string.Empty)}: {e.Reason}"
            : $"task {taskId} failed: {e.Reason}";
    }
}
