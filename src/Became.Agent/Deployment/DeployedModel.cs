using Became.Core.Models;
using Became.Core.TaskAgnostic;

namespace Became.Agent.Deployment;

/// <summary>The model the device serves: a version, the tasks it knows and the network (read-only once deployed).</summary>
/// <param name="Version">0 before the first task is learned.</param>
/// <param name="TaskIds">Task id of each head, in head order.</param>
/// <param name="Network">The network, or null for version 0.</param>
/// <param name="ModelSha256">sha256 of the model file (its blob name), or null for version 0.</param>
/// <param name="ClassStatistics">The version's class statistics for answers without a task id, or null when it has
/// none (made before they existed, or adopted from a peer that keeps none).</param>
public sealed record DeployedSnapshot(int Version, IReadOnlyList<string> TaskIds, IContinualNetwork? Network, string? ModelSha256 = null, ClassFeatureMemory? ClassStatistics = null)
{
    public static readonly DeployedSnapshot None = new(0, [], null);

    /// <summary>Frees what this snapshot holds and <paramref name="next"/> does not share.</summary>
    internal void Release(DeployedSnapshot? next = null)
    {
        if (!ReferenceEquals(Network, next?.Network))
        {
            Network?.Dispose();
        }

        if (!ReferenceEquals(ClassStatistics, next?.ClassStatistics))
        {
            ClassStatistics?.Dispose();
        }
    }
}

/// <summary>A reader's hold on a deployed snapshot: the network stays alive until every lease is released.</summary>
public sealed class ModelLease : IDisposable
{
    private readonly DeployedModel _owner;
    private readonly DeployedModel.Entry _entry;
    private int _released;

    internal ModelLease(DeployedModel owner, DeployedModel.Entry entry)
    {
        _owner = owner;
        _entry = entry;
    }

    public DeployedSnapshot Snapshot => _entry.Snapshot;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _owner.Release(_entry);
        }
    }
}

/// <summary>Holds the deployed model and swaps it atomically; readers lease a snapshot, and a replaced network is
/// disposed only when its last lease ends.</summary>
public sealed class DeployedModel : IDisposable
{
    private readonly Lock _gate = new();
    private Entry _current = new(DeployedSnapshot.None);

    public DeployedSnapshot Current
    {
        get
        {
            lock (_gate)
            {
                return _current.Snapshot;
            }
        }
    }

    /// <summary>Leases the current snapshot; dispose the lease when done with the network.</summary>
    public ModelLease Acquire()
    {
        lock (_gate)
        {
            _current.Leases++;
            return new ModelLease(this, _current);
        }
    }

    /// <summary>Makes <paramref name="next"/> the served model.</summary>
    public void Swap(DeployedSnapshot next)
    {
        Entry previous;
        lock (_gate)
        {
            previous = _current;
            _current = new Entry(next);
            previous.Retired = true;
            previous.Successor = next;
            if (previous.Leases > 0)
            {
                return;
            }
        }

        previous.Snapshot.Release(next);
    }

    public void Dispose() => Swap(DeployedSnapshot.None);

    internal void Release(Entry entry)
    {
        lock (_gate)
        {
            entry.Leases--;
            if (entry.Leases > 0 || !entry.Retired)
            {
                return;
            }
        }

        entry.Snapshot.Release(entry.Successor);
    }

    internal sealed class Entry(DeployedSnapshot snapshot)
    {
        public DeployedSnapshot Snapshot { get; } = snapshot;

        /// <summary>The snapshot that replaced this one: what it shares with it stays alive.</summary>
        public DeployedSnapshot? Successor { get; set; }

        public int Leases { get; set; }

        public bool Retired { get; set; }
    }
}
