using Became.Agent.Protocol;
using Became.Protocol;

namespace Became.Agent.Deployment;

/// <summary>cmd/adopt: takes over a peer device's version with its learner state (implemented beside the gate, which
/// Deployment does not reach).</summary>
public interface IModelAdoption
{
    /// <summary>Fetches <paramref name="version"/> (null: the peer's deployed one) from device <paramref name="from"/>,
    /// checks, stores, gates and deploys it (or queues that behind the job in flight); a refusal is a
    /// <see cref="RequestRejectedException"/> with its error code.</summary>
    Task<AdoptReply> AdoptAsync(string from, int? version, CancellationToken cancellationToken);
}
