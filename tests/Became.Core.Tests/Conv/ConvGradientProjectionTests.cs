using Became.Core.Models;
using Became.Core.Projection;
using Became.Core.Tests.Data;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Conv;

/// <summary>
/// Gradient projection on the AlexNet (width 0.125: 8/16/32 channels, fc 256) with random orthonormal bases:
/// conv1 16 x 5, conv2 72 x 20, conv3 64 x 40 (over half: the complement path), fc1 128 x 30, fc2 256 x 200;
/// 16 real Fashion-MNIST images of task 0. Float32 gradients: tolerance 1e-5 relative.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class ConvGradientProjectionTests(FashionMnistFixture data)
{
    private const double Tolerance = 1e-5;
    private static readonly int[] Ranks = [5, 20, 40, 30, 200];

    [Fact]
    public void Projected_conv_gradient_is_orthogonal_to_the_stored_basis()
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(data, ProjectionKind.Gpm);

        var plain = setup.Gradients(null);
        var projected = setup.Gradients(setup.Memory);

        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            var u = setup.Memory.Basis(layer)!;
            var g = Flat(plain[layer]);
            double scale = Norm(g);
            Assert.True(Norm(g.mm(u)) > 0.05 * scale, $"layer {layer}: raw gradient barely touches the basis");
            double leak = Norm(Flat(projected[layer]).mm(u)) / scale;
            Assert.True(leak < Tolerance, $"layer {layer}: ‖G_p U‖/‖G‖ = {leak:E2}");
        }
    }

    [Fact]
    public void Projected_conv_gradient_keeps_the_component_outside_the_basis()
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(data, ProjectionKind.Gpm);

        var plain = setup.Gradients(null);
        var projected = setup.Gradients(setup.Memory);

        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            var g = Flat(plain[layer]);
            var expected = g - g.mm(Projector(setup.Memory.Basis(layer)!));
            double error = RelativeError(Flat(projected[layer]), expected);
            Assert.True(error < Tolerance, $"layer {layer}: ‖G_p − (G − G U Uᵀ)‖/‖·‖ = {error:E2}");
        }
    }

    [Fact]
    public void Sgp_with_all_importances_one_projects_exactly_as_gpm()
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(data, ProjectionKind.Gpm);
        using var sgp = new GradientProjectionMemory(setup.Network.SharedLayers.Select(l => l.InputDimension).ToList(), new GpmOptions { Thresholds = [0.97], Projection = ProjectionKind.Sgp });
        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            sgp.SetBasis(layer, setup.Memory.Basis(layer));
            sgp.SetImportance(layer, ones(Ranks[layer], dtype: ScalarType.Float64));
        }

        var gpm = setup.Gradients(setup.Memory);
        var scaled = setup.Gradients(sgp);

        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            double error = RelativeError(scaled[layer], gpm[layer]);
            Assert.True(error < Tolerance, $"layer {layer}: SGP(Λ = I) vs GPM relative difference {error:E2}");
        }
    }

    [Fact]
    public void Sgp_removes_each_stored_direction_in_proportion_to_its_importance()
    {
        // G_p = G − G U Λ Uᵀ, so G_p u_j = (1 − λ_j) G u_j for each basis column u_j.
        using var scope = NewDisposeScope();
        using var setup = new Setup(data, ProjectionKind.Gpm);
        using var sgp = new GradientProjectionMemory(setup.Network.SharedLayers.Select(l => l.InputDimension).ToList(), new GpmOptions { Thresholds = [0.97], Projection = ProjectionKind.Sgp });
        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            sgp.SetBasis(layer, setup.Memory.Basis(layer));
            sgp.SetImportance(layer, rand(Ranks[layer], dtype: ScalarType.Float64));
        }

        var plain = setup.Gradients(null);
        var scaled = setup.Gradients(sgp);

        for (int layer = 0; layer < Ranks.Length; layer++)
        {
            var u = sgp.Basis(layer)!;
            var expected = Flat(plain[layer]).mm(u).mul(1 - sgp.Importance(layer)!);
            double error = RelativeError(Flat(scaled[layer]).mm(u), expected);
            Assert.True(error < Tolerance, $"layer {layer}: ‖G_p U − G U (I − Λ)‖/‖·‖ = {error:E2}");
        }
    }

    /// <summary>A gradient as the out x in*k*k matrix the basis acts on, in float64.</summary>
    private static Tensor Flat(Tensor gradient) => gradient.reshape(gradient.shape[0], -1).to_type(ScalarType.Float64);

    /// <summary>Network, memory with random bases, a fixed batch.</summary>
    private sealed class Setup : IDisposable
    {
        public Setup(FashionMnistFixture data, ProjectionKind kind)
        {
            manual_seed(4321);
            Network = new AlexNet(1, 28, 28, widthMultiplier: 0.125);
            Network.AddHead(2);
            var dimensions = Network.SharedLayers.Select(l => l.InputDimension).ToList();
            Assert.Equal([16L, 72, 64, 128, 256], dimensions);
            Memory = new GradientProjectionMemory(dimensions, new GpmOptions { Thresholds = [0.97], Projection = kind });
            for (int layer = 0; layer < Ranks.Length; layer++)
            {
                Memory.SetBasis(layer, RandomOrthonormal(dimensions[layer], Ranks[layer]));
            }

            var task = data.Split.Tasks[0].Train;
            Inputs = task.Inputs.narrow(0, 0, 16);
            Labels = task.Labels.narrow(0, 0, 16);
        }

        public AlexNet Network { get; }

        public GradientProjectionMemory Memory { get; }

        public Tensor Inputs { get; }

        public Tensor Labels { get; }

        /// <summary>The shared weights' gradients after one backward pass (no dropout), projected with the
        /// memory's projector when one is given, as detached copies.</summary>
        public List<Tensor> Gradients(GradientProjectionMemory? memory)
        {
            foreach (var p in Network.Parameters)
            {
                p.Tensor.grad?.zero_();
            }

            var loss = F.cross_entropy(Network.Forward(Inputs, 0), Labels);
            loss.backward();
            if (memory is not null)
            {
                using var projector = new GradientProjector(Network.SharedLayers, memory);
                projector.ProjectGradients();
            }

            return Network.SharedLayers.Select(l => l.Weight.grad!.detach().clone()).ToList();
        }

        public void Dispose()
        {
            Memory.Dispose();
            Network.Dispose();
        }
    }
}
