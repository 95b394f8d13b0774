using static TorchSharp.torch;

namespace Became.Core.Models;

/// <summary>
/// A network that runs a whole SGD step of the mean cross-entropy itself: forward, the gradients written out by
/// hand and the updates fused into them (W ← W − lr·Δᵀx as one addmm), without autograd's graph. At batch 10 a
/// step is a few dozen tiny ops, and the per-op dispatch, graph and gradient buffers cost more than the maths.
/// </summary>
public interface IFusedSgdStep
{
    /// <summary>Whether <see cref="SgdStep"/> updates exactly <paramref name="trainable"/> when training
    /// <paramref name="head"/> (every shared weight and that head); otherwise the caller uses autograd.</summary>
    bool CanFuse(IReadOnlyList<Tensor> trainable, int head);

    /// <summary>One SGD step on a batch (its layer inputs projected by <see cref="IContinualNetwork.InputProjector"/>
    /// when set); adds the batch's mean loss times its size to <paramref name="lossTotal"/> (a float64 scalar tensor).
    /// <paramref name="projectedInputs"/>, when given, are the batch's inputs already projected for the first layer
    /// (they depend only on the data and the fixed basis, so they can be computed ahead in large blocks).</summary>
    void SgdStep(Tensor inputs, Tensor? projectedInputs, Tensor labels, int head, double learningRate, Tensor lossTotal);
}
