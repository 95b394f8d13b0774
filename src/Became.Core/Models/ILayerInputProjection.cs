using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>Computes a shared linear layer's output so that its weight gradient comes out projected (the learner's
/// input-side projection; implemented in Became.Core.Projection, so Models does not depend on it).</summary>
public interface ILayerInputProjection
{
    /// <summary>The output x Wᵀ of shared layer <paramref name="layerIndex"/>, with the weight's gradient projected.</summary>
    Tensor Linear(int layerIndex, Tensor input, Tensor weight);

    /// <summary>The layer's inputs times the projection P (rows of x P), or null when the layer is not projected:
    /// the weight gradient Δᵀ (x P) of a step that computes its gradients without autograd.</summary>
    Tensor? ProjectInput(int layerIndex, Tensor input);
}
