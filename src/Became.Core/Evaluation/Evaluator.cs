using Became.Core.Data;
using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Evaluation;

/// <summary>Loss and accuracy of a head on a labelled set, without gradients.</summary>
public static class Evaluator
{
    /// <summary>Mean cross-entropy and accuracy in percent.</summary>
    public static (double Loss, double Accuracy) LossAndAccuracy(IContinualNetwork network, LabelledSet data, int head)
    {
        if (data.Count == 0)
        {
            return (double.NaN, double.NaN);
        }

        using var noGrad = no_grad();
        double loss = 0;
        long correct = 0;
        foreach (var (start, n) in BatchRanges.Of(data.Count, network.EvaluationBatch, network.MinimumBatch))
        {
            using var scope = NewDisposeScope();
            var logits = network.Forward(data.Inputs.narrow(0, start, n), head);
            var labels = data.Labels.narrow(0, start, n);
            loss += F.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(labels).sum().item<long>();
        }

        return (loss / data.Count, 100.0 * correct / data.Count);
    }

    /// <summary>Accuracy in percent.</summary>
    public static double Accuracy(IContinualNetwork network, LabelledSet data, int head) => LossAndAccuracy(network, data, head).Accuracy;
}
