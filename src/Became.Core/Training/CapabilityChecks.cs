using Became.Core.Models;

namespace Became.Core.Training;

/// <summary>What the learner and its plugins ask of a network before taking a fast path, one question each, answered
/// by the network family's <see cref="NetworkCapabilities"/> flags.</summary>
internal static class CapabilityChecks
{
    /// <summary>Stage 1 may project the shared layers' inputs in the forward pass (<see cref="ILayerInputProjection"/>)
    /// instead of the gradients after backward: every shared layer is linear.</summary>
    public static bool CanProjectInputs(IContinualNetwork network) => network.Capabilities.HasFlag(NetworkCapabilities.InputProjection);

    /// <summary>The Fisher and the memory's representations may be computed on two threads at once.</summary>
    public static bool CanRunFisherBesideMemory(IContinualNetwork network) => network.Capabilities.HasFlag(NetworkCapabilities.ParallelFisherAndMemory);

    /// <summary>Two threads may run forward passes at once (Fisher halves, evaluation): the forward keeps no state.</summary>
    public static bool CanReadConcurrently(IContinualNetwork network) => network.Capabilities.HasFlag(NetworkCapabilities.ConcurrentForward);
}
