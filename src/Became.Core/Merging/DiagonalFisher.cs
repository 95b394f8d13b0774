using Became.Core.Data;
using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Merging;

/// <summary>How the squared gradients are formed.</summary>
public enum FisherEstimator
{
    /// <summary>Mean over samples of each sample's squared gradient: the definition.</summary>
    Exact,

    /// <summary>The reference code's shortcut: squared batch-mean gradients times the batch size, averaged over samples.</summary>
    Batch,
}

/// <summary>Which label the loss uses.</summary>
public enum FisherLabels
{
    /// <summary>The model's own prediction (argmax), as the reference does: the 'true' Fisher.</summary>
    Predicted,

    /// <summary>The given label: the empirical Fisher.</summary>
    Empirical,
}

/// <summary>Options of a Fisher pass.</summary>
/// <param name="Estimator">Exact per-sample or the reference's batch variant.</param>
/// <param name="Labels">Predicted (true Fisher) or given labels (empirical).</param>
/// <param name="BatchSize">Batch size of the batch estimator (10 in the reference); the exact estimator's
/// result does not depend on the batch it computes in.</param>
public sealed record FisherOptions(FisherEstimator Estimator = FisherEstimator.Exact, FisherLabels Labels = FisherLabels.Predicted, int BatchSize = 10);

/// <summary>
/// The diagonal Fisher information of a task's loss: per parameter, the mean over the data of the
/// squared gradient of the cross-entropy of the task's head.
/// </summary>
public static class DiagonalFisher
{
    private const int ExactChunk = 500;

    /// <summary>Fisher of the shared parameters and the head's, keyed by parameter name (float32, the parameter's shape).</summary>
    public static Dictionary<string, Tensor> Compute(IContinualNetwork network, int head, LabelledSet data, FisherOptions options)
    {
        if (data.Count == 0)
        {
            throw new ArgumentException("The Fisher information needs at least one sample.", nameof(data));
        }

        // Batch norm couples the samples of a batch, so a network that is not a linear stack has no per-sample
        // gradient to square: it gets the batch estimator whatever was asked.
        var parameters = network.SharedParameters.Concat(network.HeadParameters(head)).ToList();
        return options.Estimator == FisherEstimator.Exact && HasPerSampleGradients(network)
            ? ExactLinear(network, head, data, options.Labels, parameters)
            : BatchedSquares(network, head, data, options, parameters);
    }

    /// <summary>Each sample's gradient exists apart from the others' (no batch norm couples them): the exact
    /// estimator's closed form applies.</summary>
    private static bool HasPerSampleGradients(IContinualNetwork network) => network.Capabilities.HasFlag(NetworkCapabilities.ExactFisher);

    /// <summary>The exact Fisher by one backward pass per sample: slow, the definition, for checks and for
    /// layers the closed form does not cover.</summary>
    public static Dictionary<string, Tensor> PerSampleLoop(IContinualNetwork network, int head, LabelledSet data, FisherLabels labels)
    {
        var parameters = network.SharedParameters.Concat(network.HeadParameters(head)).ToList();
        return BatchedSquares(network, head, data, new FisherOptions(FisherEstimator.Batch, labels, 1), parameters);
    }

    // With inputs X (n x in) and per-sample output gradients Δ (n x out) of a linear map, the per-sample
    // weight gradients are δ_i x_iᵀ, so their squares summed over i are (Δ²)ᵀ (X²): one GEMM per layer.
    private static Dictionary<string, Tensor> ExactLinear(IContinualNetwork network, int head, LabelledSet data, FisherLabels labels, List<NamedParameter> parameters)
    {
        var sums = parameters.ToDictionary(p => p.Name, p => zeros_like(p.Tensor, requires_grad: false).DetachFromDisposeScope());
        for (int start = 0; start < data.Count; start += ExactChunk)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(ExactChunk, data.Count - start);
            var x = data.Inputs.narrow(0, start, n);
            var capture = new ForwardCapture();
            var logits = network.Forward(x, head, capture);
            var target = Targets(logits, data.Labels.narrow(0, start, n), labels);
            var loss = F.cross_entropy(logits, target, reduction: nn.Reduction.Sum);
            var deltas = autograd.grad([loss], capture.LayerOutputs);
            using var noGrad = no_grad();
            for (int i = 0; i < parameters.Count; i++)
            {
                sums[parameters[i].Name].add_(deltas[i].square().t().mm(capture.LayerInputs[i].detach().square()));
            }
        }

        foreach (var sum in sums.Values)
        {
            sum.div_(data.Count);
        }

        return sums;
    }

    private static Dictionary<string, Tensor> BatchedSquares(IContinualNetwork network, int head, LabelledSet data, FisherOptions options, List<NamedParameter> parameters)
    {
        var sums = parameters.ToDictionary(p => p.Name, p => zeros_like(p.Tensor, requires_grad: false).DetachFromDisposeScope());
        var tensors = parameters.Select(p => p.Tensor).ToList();
        int batch = Math.Max(1, options.BatchSize);
        foreach (var (start, n) in BatchRanges.Of(data.Count, batch, network.MinimumBatch))
        {
            using var scope = NewDisposeScope();
            var logits = network.Forward(data.Inputs.narrow(0, start, n), head);
            var target = Targets(logits, data.Labels.narrow(0, start, n), options.Labels);
            var loss = F.cross_entropy(logits, target);
            var grads = autograd.grad([loss], tensors);
            using var noGrad = no_grad();
            for (int i = 0; i < parameters.Count; i++)
            {
                sums[parameters[i].Name].add_(grads[i].square(), alpha: n);
            }
        }

        foreach (var sum in sums.Values)
        {
            sum.div_(data.Count);
        }

        return sums;
    }

    private static Tensor Targets(Tensor logits, Tensor labels, FisherLabels kind) =>
        kind == FisherLabels.Predicted ? logits.detach().argmax(1) : labels;
}
