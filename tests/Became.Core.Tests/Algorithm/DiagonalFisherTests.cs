using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// The diagonal Fisher against its definition: the mean over samples of each sample's squared gradient of the
/// head's cross-entropy, computed here one sample at a time. An 8 → 6 → 5 MLP with two heads; the Fisher is
/// taken for head 1. Float32 sums of squares: 1e-5 relative per parameter, about a hundred float32 epsilons.
/// </summary>
public sealed class DiagonalFisherTests
{
    private const double Tolerance = 1e-5;
    private const int Head = 1;

    [Theory]
    [InlineData(FisherLabels.Predicted, 20)]
    [InlineData(FisherLabels.Empirical, 20)]
    [InlineData(FisherLabels.Empirical, 1023)]
    public void Exact_Fisher_equals_the_mean_of_squared_per_sample_gradients(FisherLabels labels, int samples)
    {
        // 1023 samples span three chunks of the closed form (500, 500, 23).
        using var scope = NewDisposeScope();
        using var setup = new Setup(samples);

        var fisher = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions(FisherEstimator.Exact, labels));

        using var ownedFisher = Owning(fisher.Values);

        AssertClose(setup.Reference(labels), fisher, Tolerance);
    }

    [Theory]
    [InlineData(FisherLabels.Predicted)]
    [InlineData(FisherLabels.Empirical)]
    public void Per_sample_loop_equals_the_definition(FisherLabels labels)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(20);

        var fisher = DiagonalFisher.PerSampleLoop(setup.Network, Head, setup.Data, labels);

        using var ownedFisher = Owning(fisher.Values);

        AssertClose(setup.Reference(labels), fisher, Tolerance);
    }

    [Theory]
    [InlineData(FisherLabels.Predicted)]
    [InlineData(FisherLabels.Empirical)]
    public void Batch_estimator_with_batch_size_one_equals_the_exact_Fisher(FisherLabels labels)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(20);

        var exact = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions(FisherEstimator.Exact, labels));

        using var ownedExact = Owning(exact.Values);
        var batch = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions(FisherEstimator.Batch, labels, BatchSize: 1));
        using var ownedBatch = Owning(batch.Values);

        AssertClose(exact, batch, Tolerance);
    }

    [Fact]
    public void Batch_estimator_with_batch_size_ten_is_a_different_estimator()
    {
        // n (mean gradient)² over a batch is not the mean of squares: the per-sample gradients partly cancel.
        using var scope = NewDisposeScope();
        using var setup = new Setup(20);

        var exact = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions(FisherEstimator.Exact, FisherLabels.Empirical));

        using var ownedExact = Owning(exact.Values);
        var batch = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions(FisherEstimator.Batch, FisherLabels.Empirical, BatchSize: 10));
        using var ownedBatch = Owning(batch.Values);

        Assert.All(exact.Keys, name => Assert.True(RelativeError(batch[name], exact[name]) > 0.05, $"{name}: batch-10 estimate equals the exact one"));
    }

    [Fact]
    public void Fisher_covers_the_shared_weights_and_the_task_head_only()
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(20);

        var fisher = DiagonalFisher.Compute(setup.Network, Head, setup.Data, new FisherOptions());

        using var ownedFisher = Owning(fisher.Values);

        Assert.Equal(["heads.1.weight", "shared.0.weight", "shared.1.weight"], fisher.Keys.Order());
        Assert.All(setup.Network.Parameters.Where(p => fisher.ContainsKey(p.Name)), p => Assert.Equal(p.Tensor.shape, fisher[p.Name].shape));
    }

    private static void AssertClose(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, double tolerance)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
        {
            Assert.True(Norm(e) > 0, $"{name}: the reference Fisher is zero");
            double error = RelativeError(actual[name], e);
            Assert.True(error < tolerance, $"{name}: relative error {error:E2}");
        }
    }

    private sealed class Setup : IDisposable
    {
        public Setup(int samples)
        {
            manual_seed(99);
            Network = new MultiHeadMlp(8, [6, 5]);
            Network.AddHead(3);
            Network.AddHead(4);
            Data = new LabelledSet(randn(samples, 8), randint(0, 4, [samples]));
        }

        public MultiHeadMlp Network { get; }

        public LabelledSet Data { get; }

        /// <summary>Per sample: forward, cross-entropy with the predicted (argmax) or given label, backward;
        /// the squared gradients averaged over the samples, in float64.</summary>
        public Dictionary<string, Tensor> Reference(FisherLabels labels)
        {
            var parameters = Network.SharedParameters.Concat(Network.HeadParameters(Head)).ToList();
            var sums = parameters.ToDictionary(p => p.Name, p => zeros(p.Tensor.shape, dtype: ScalarType.Float64));
            for (int i = 0; i < Data.Count; i++)
            {
                using var scope = NewDisposeScope();
                var logits = Network.Forward(Data.Inputs.narrow(0, i, 1), Head);
                var target = labels == FisherLabels.Predicted ? logits.detach().argmax(1) : Data.Labels.narrow(0, i, 1);
                var loss = F.cross_entropy(logits, target);
                var grads = autograd.grad([loss], parameters.Select(p => p.Tensor).ToList());
                for (int j = 0; j < parameters.Count; j++)
                {
                    sums[parameters[j].Name].add_(grads[j].detach().to_type(ScalarType.Float64).square());
                }
            }

            return sums.ToDictionary(kv => kv.Key, kv => kv.Value / Data.Count);
        }

        public void Dispose()
        {
            Data.Dispose();
            Network.Dispose();
        }
    }
}
