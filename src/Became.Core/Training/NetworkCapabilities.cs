using Became.Core.Models;

namespace Became.Core.Training;

/// <summary>What the learner and its plugins ask of a network before taking a fast path, one question each, so a
/// network's capability flags answer them in one place.</summary>
internal static class NetworkCapabilities
{
    /// <summary>Stage 1 may project the shared layers' inputs in the forward pass (<see cref="ILayerInputProjection"/>)
    /// instead of the gradients after backward: every shared layer is linear.</summary>
    public static bool CanProjectInputs(IContinualNetwork network) => network.IsLinearStack;

    /// <summary>Two threads may read the weights at once (Fisher halves, Fisher beside the memory's
    /// representations): the forward pass keeps no state.</summary>
    public static bool CanReadConcurrently(IContinualNetwork network) => network.IsLinearStack;
}
