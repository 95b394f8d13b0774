using Became.Agent.Configuration;
using Became.Agent.Protocol;
using Became.Agent.Storage;
using Became.Protocol;
using Microsoft.Extensions.Options;

namespace Became.Agent.Deployment;

/// <summary>
/// What the retained status reports: the job state, its training progress and the last error (written by the job
/// thread, read by the intake, the request handlers and the connection's threads), the deployed model with its
/// held-out accuracy per task, the queue length and the device's groups.
/// </summary>
public sealed class DeviceStatus(AgentStore store, DeployedModel deployed, TimeProvider time, IOptions<AgentOptions> options)
{
    private readonly IReadOnlyList<string>? _groups = options.Value.Groups is { Length: > 0 } groups ? groups : null;
    private readonly string? _deviceId = options.Value.DeviceId;

    // One immutable set swapped whole: a reader never sees a state from one write and an error from another.
    private Fields _fields = new(AgentState.Idle, null, null);
    private int _queueLength;
    private VersionAccuracy _accuracy = new(0, null);

    /// <summary>idle or training (<see cref="AgentState"/>).</summary>
    public string State => Volatile.Read(ref _fields).State;

    /// <summary>The last job failure or rejection, if any.</summary>
    public string? LastError => Volatile.Read(ref _fields).LastError;

    /// <summary>The epoch the job in training has reached, or null.</summary>
    public TrainingStatus? Progress => Volatile.Read(ref _fields).Progress;

    /// <summary>Sets the job state; any state but training clears the progress.</summary>
    public void SetState(string state) => Update(f => f with { State = state, Progress = state == AgentState.Training ? f.Progress : null });

    public void SetError(string error) => Update(f => f with { LastError = error });

    /// <summary>Records the epoch the job has reached (shown while the state is training).</summary>
    public void SetProgress(TrainingStatus progress) => Update(f => f with { Progress = f.State == AgentState.Training ? progress : null });

    /// <summary>The status now; <paramref name="state"/> overrides the job state (offline as the agent stops).</summary>
    public AgentStatus Current(string? state = null)
    {
        var fields = Volatile.Read(ref _fields);
        var snapshot = deployed.Current;
        return new AgentStatus(
            state ?? fields.State,
            snapshot.Version,
            QueueLength(),
            snapshot.TaskIds.Count,
            fields.LastError,
            time.GetUtcNow(),
            AccuracyOf(snapshot),
            state is null || state == AgentState.Training ? fields.Progress : null,
            _groups,
            _deviceId);
    }

    // The status must go out even while the store cannot be read (a full disk): then it shows the last known length.
    private int QueueLength()
    {
        try
        {
            int length = store.QueueLength;
            Volatile.Write(ref _queueLength, length);
            return length;
        }
        catch (Exception e) when (StorageFailure.IsTransient(e))
        {
            return Volatile.Read(ref _queueLength);
        }
    }

    // A version's figures never change, so they are read from the store once per deployed version; in head order.
    private IReadOnlyDictionary<string, double>? AccuracyOf(DeployedSnapshot snapshot)
    {
        if (snapshot.Version == 0)
        {
            return null;
        }

        var cached = Volatile.Read(ref _accuracy);
        if (cached.Version == snapshot.Version)
        {
            return cached.Accuracy;
        }

        try
        {
            var figures = store.FindVersion(snapshot.Version)?.Accuracy ?? [];
            var ordered = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (string task in snapshot.TaskIds.Concat(figures.Keys))
            {
                if (figures.TryGetValue(task, out double percent) && double.IsFinite(percent))
                {
                    ordered.TryAdd(task, percent);
                }
            }

            Volatile.Write(ref _accuracy, new VersionAccuracy(snapshot.Version, ordered));
            return ordered;
        }
        catch (Exception e) when (StorageFailure.IsTransient(e))
        {
            return null;
        }
    }

    private void Update(Func<Fields, Fields> change)
    {
        Fields seen, next;
        do
        {
            seen = Volatile.Read(ref _fields);
            next = change(seen);
        }
        while (!ReferenceEquals(Interlocked.CompareExchange(ref _fields, next, seen), seen));
    }

    private sealed record Fields(string State, string? LastError, TrainingStatus? Progress);

    private sealed record VersionAccuracy(int Version, IReadOnlyDictionary<string, double>? Accuracy);
}
