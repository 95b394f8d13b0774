using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Algorithm;

/// <summary>How a labelled set is cut into forward passes when it is evaluated.</summary>
public sealed class EvaluatorTests
{
    [Theory]
    [InlineData("resnet18:0.25", new long[] { 1, 28, 28 })]
    [InlineData("alexnet:0.125", new long[] { 3, 32, 32 })]
    public void A_batch_statistics_network_is_evaluated_in_the_reference_test_batches(string model, long[] shape)
    {
        // Batch norm without running statistics normalises with the batch's own statistics, so the batch a test
        // pass uses is part of the result: the reference tests in batches of 64 (its batch_size_test).
        using var scope = NewDisposeScope();
        using var network = ModelSpec.Parse(model).Create(shape, CPU, seed: 3);
        network.AddHead(2);
        manual_seed(4);
        using var data = new LabelledSet(randn(200, shape.Aggregate(1L, (a, b) => a * b)), randint(0, 2, [200]));

        var (loss, _) = Evaluator.LossAndAccuracy(network, data, 0);

        double expected = 0;
        using (no_grad())
        {
            foreach (var (start, n) in new[] { (0, 64), (64, 64), (128, 64), (192, 8) })
            {
                expected += F.cross_entropy(network.Forward(data.Inputs.narrow(0, start, n), 0), data.Labels.narrow(0, start, n), reduction: nn.Reduction.Sum).item<float>();
            }
        }

        Assert.Equal(ReferenceProtocol.TestBatchSize, network.EvaluationBatch);
        Assert.Equal(expected / 200, loss, 5);
    }
}
