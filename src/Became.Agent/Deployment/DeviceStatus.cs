using Became.Agent.Protocol;
using Became.Agent.Storage;

namespace Became.Agent.Deployment;

/// <summary>
/// What the retained status reports: the job state and the last error (written by the job thread, read by the
/// intake, the request handlers and the connection's threads), the deployed model and the queue length.
/// </summary>
public sealed class DeviceStatus(AgentStore store, DeployedModel deployed, TimeProvider time)
{
    // One immutable pair swapped whole: a reader never sees a state from one write and an error from another.
    private Fields _fields = new(AgentState.Idle, null);
    private int _queueLength;

    /// <summary>idle or training (<see cref="AgentState"/>).</summary>
    public string State => Volatile.Read(ref _fields).State;

    /// <summary>The last job failure or rejection, if any.</summary>
    public string? LastError => Volatile.Read(ref _fields).LastError;

    public void SetState(string state) => Update(f => f with { State = state });

    public void SetError(string error) => Update(f => f with { LastError = error });

    /// <summary>The status now; <paramref name="state"/> overrides the job state (offline as the agent stops).</summary>
    public AgentStatus Current(string? state = null)
    {
        var fields = Volatile.Read(ref _fields);
        var snapshot = deployed.Current;
        return new AgentStatus(state ?? fields.State, snapshot.Version, QueueLength(), snapshot.TaskIds.Count, fields.LastError, time.GetUtcNow());
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

    private sealed record Fields(string State, string? LastError);
}
