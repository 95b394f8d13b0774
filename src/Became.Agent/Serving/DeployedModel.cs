using Became.Core.Models;

namespace Became.Agent.Serving;

/// <summary>The model the device serves: a version, the tasks it knows and the network (read-only once deployed).</summary>
/// <param name="Version">0 before the first task is learned.</param>
/// <param name="TaskIds">Task id of each head, in head order.</param>
/// <param name="Network">The network, or null for version 0.</param>
public sealed record DeployedSnapshot(int Version, IReadOnlyList<string> TaskIds, IContinualNetwork? Network)
{
    public static readonly DeployedSnapshot None = new(0, [], null);
}

/// <summary>Holds the deployed model and swaps it atomically; readers take a snapshot and keep using it.</summary>
public sealed class DeployedModel : IDisposable
{
    private DeployedSnapshot _current = DeployedSnapshot.None;

    public DeployedSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Makes <paramref name="next"/> the served model. The previous network is released once no reader
    /// can still hold it; with no concurrent readers yet (inference arrives with the pull issue) that is now.</summary>
    public void Swap(DeployedSnapshot next)
    {
        var previous = Interlocked.Exchange(ref _current, next);
        if (!ReferenceEquals(previous.Network, next.Network))
        {
            previous.Network?.Dispose();
        }
    }

    public void Dispose() => Swap(DeployedSnapshot.None);
}
