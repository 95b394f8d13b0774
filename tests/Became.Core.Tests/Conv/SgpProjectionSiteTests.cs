using Became.Core.Models;
using Became.Core.Projection;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Conv;

/// <summary>SGP on the MLP: projecting layer inputs gives the gradients G − G U Λ Uᵀ that projecting gradients
/// gives (P = I − U Λ Uᵀ is symmetric). 12 → 10 → 8 MLP, random bases of ranks 3 and 7, random importances.</summary>
public sealed class SgpProjectionSiteTests
{
    [Fact]
    public void Sgp_input_projection_gives_the_same_gradients_as_gradient_projection()
    {
        using var scope = NewDisposeScope();
        manual_seed(99);
        using var network = new MultiHeadMlp(12, [10, 8]);
        network.AddHead(3);
        using var memory = new GradientProjectionMemory([12, 10], new GpmOptions { Thresholds = [0.9], Projection = ProjectionKind.Sgp });
        memory.SetBasis(0, RandomOrthonormal(12, 3));
        memory.SetImportance(0, rand(3, dtype: ScalarType.Float64));
        memory.SetBasis(1, RandomOrthonormal(10, 7));
        memory.SetImportance(1, rand(7, dtype: ScalarType.Float64));
        using var projector = new GradientProjector(network.SharedLayers, memory);
        var x = randn(16, 12);
        var y = randint(0, 3, [16]);

        var onGradients = Gradients(network, x, y, null, projector);
        var onInputs = Gradients(network, x, y, projector, null);

        for (int layer = 0; layer < 2; layer++)
        {
            var g = onGradients[layer].to_type(ScalarType.Float64);
            var u = memory.Basis(layer)!;
            var expected = Gradients(network, x, y, null, null)[layer].to_type(ScalarType.Float64);
            expected = expected - expected.mm(u).mul(memory.Importance(layer)!).mm(u.t());
            Assert.True(RelativeError(g, expected) < 1e-5, $"layer {layer}: gradient site is not G − G U Λ Uᵀ");
            Assert.True(RelativeError(onInputs[layer], g) < 1e-5, $"layer {layer}: the sites differ");
        }
    }

    private static List<Tensor> Gradients(MultiHeadMlp network, Tensor x, Tensor y, GradientProjector? inputs, GradientProjector? gradients)
    {
        foreach (var p in network.Parameters)
        {
            p.Tensor.grad?.zero_();
        }

        network.InputProjector = inputs;
        try
        {
            F.cross_entropy(network.Forward(x, 0), y).backward();
        }
        finally
        {
            network.InputProjector = null;
        }

        gradients?.ProjectGradients();
        return network.SharedLayers.Select(l => l.Weight.grad!.detach().clone()).ToList();
    }
}
