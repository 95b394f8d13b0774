using Became.Core.Models;
using Became.Core.Projection;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// The MLP's fused SGD step (gradients written out, updates fused into addmm) against autograd's step on a
/// 12 → 10 → 8 MLP with two heads: same weights after a few steps, with and without the stage-1 input projection
/// (ranks 3/4 use I − U Uᵀ, 9/8 the complement), with the first layer's projected inputs given ahead or not.
/// Float32: tolerance 1e-5 relative.
/// </summary>
public sealed class FusedSgdStepTests
{
    private const double Tolerance = 1e-5;
    private const double LearningRate = 0.05;

    [Theory]
    [InlineData(0, 0, false)]
    [InlineData(3, 4, false)]
    [InlineData(3, 4, true)]
    [InlineData(9, 8, false)]
    [InlineData(9, 8, true)]
    public void Fused_step_gives_the_weights_of_the_autograd_step(int rank0, int rank1, bool projectedAhead)
    {
        using var scope = NewDisposeScope();
        using var reference = Network();
        using var fused = Network();
        using var memory = new GradientProjectionMemory([12, 10], new GpmOptions { Thresholds = [0.9] });
        if (rank0 > 0)
        {
            memory.SetBasis(0, RandomOrthonormal(12, rank0));
            memory.SetBasis(1, RandomOrthonormal(10, rank1));
        }

        using var referenceProjector = new GradientProjector(reference.SharedLayers, memory);
        using var fusedProjector = new GradientProjector(fused.SharedLayers, memory);
        reference.InputProjector = rank0 > 0 ? referenceProjector : null;
        fused.InputProjector = rank0 > 0 ? fusedProjector : null;
        var trainable = fused.SharedParameters.Concat(fused.HeadParameters(1)).Select(p => p.Tensor).ToList();
        Assert.True(fused.CanFuse(trainable, 1));
        using var referenceLoss = zeros(1, dtype: ScalarType.Float64);
        using var fusedLoss = zeros(1, dtype: ScalarType.Float64);

        for (int step = 0; step < 3; step++)
        {
            var x = randn(10, 12);
            var y = randint(0, 4, [10]);
            AutogradStep(reference, x, y, referenceLoss);
            var ahead = projectedAhead ? fusedProjector.ProjectInput(0, x) : null;
            fused.SgdStep(x, ahead, y, 1, LearningRate, fusedLoss);
        }

        foreach (var (expected, actual) in reference.Parameters.Zip(fused.Parameters))
        {
            double error = RelativeError(actual.Tensor, expected.Tensor.to_type(ScalarType.Float64));
            Assert.True(error < Tolerance, $"{expected.Name}: relative error {error:E2}");
        }

        // The summed float32 losses (~40) agree to float32 rounding, so relative, not to a number of decimals.
        double lossError = Math.Abs(fusedLoss.item<double>() - referenceLoss.item<double>()) / Math.Abs(referenceLoss.item<double>());
        Assert.True(lossError < Tolerance, $"summed loss: relative error {lossError:E2}");
        Assert.True(fused.Parameters.All(p => p.Tensor.grad is null), "the fused step leaves no gradient buffers");
    }

    [Fact]
    public void Fused_step_declines_a_trainable_set_other_than_the_shared_weights_and_the_head()
    {
        using var network = Network();
        var shared = network.SharedParameters.Select(p => p.Tensor).ToList();

        Assert.False(network.CanFuse(shared, 1));
        Assert.False(network.CanFuse([.. shared, network.HeadParameters(0)[0].Tensor], 1));
        Assert.False(network.CanFuse([.. shared, network.HeadParameters(1)[0].Tensor], 2));
        Assert.True(network.CanFuse([.. shared, network.HeadParameters(1)[0].Tensor], 1));
    }

    private static MultiHeadMlp Network()
    {
        var network = new MultiHeadMlp(12, [10, 8], seed: 7);
        network.AddHead(3);
        network.AddHead(4);
        return network;
    }

    private static void AutogradStep(MultiHeadMlp network, Tensor x, Tensor y, Tensor lossTotal)
    {
        var parameters = network.SharedParameters.Concat(network.HeadParameters(1)).Select(p => p.Tensor).ToList();
        var loss = F.cross_entropy(network.Forward(x, 1), y);
        loss.backward();
        using var noGrad = no_grad();
        lossTotal.add_(loss.detach(), alpha: x.shape[0]);
        foreach (var p in parameters)
        {
            p.add_(p.grad!, alpha: -LearningRate);
            p.grad!.zero_();
        }
    }
}
