namespace Became.Core.Models;

/// <summary>What a network family's forward pass allows the learner to do beyond plain autograd training; each flag
/// names one fast or exact path, so a new family declares what it can take instead of passing for an MLP.</summary>
[Flags]
public enum NetworkCapabilities
{
    /// <summary>Nothing beyond autograd: gradients are projected after backward, the Fisher is the batch estimator.</summary>
    None = 0,

    /// <summary>Every shared weight is one linear map on the captured layer input, so the learner may project the
    /// inputs in the forward pass (<see cref="IContinualNetwork.InputProjector"/>) instead of the gradients.</summary>
    InputProjection = 1,

    /// <summary>Samples do not interact (no batch norm), so weight gradients are Δᵀ X per sample and the exact
    /// per-sample Fisher has a closed form.</summary>
    ExactFisher = 2,

    /// <summary>The Fisher and the memory's representations may be computed on two threads at once.</summary>
    ParallelFisherAndMemory = 4,

    /// <summary>Forward passes (evaluation, Fisher halves) may run on two threads at once: the forward keeps no state.</summary>
    ConcurrentForward = 8,
}
