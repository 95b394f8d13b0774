using Became.Core.Models;
using Became.Core.Projection;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// The projection G ← G − G U Uᵀ of the shared weights' gradients, at both sites, on a 12 → 10 → 8 MLP with
/// random orthonormal bases. Ranks (3, 4) use I − U Uᵀ; ranks (9, 8) exceed half the widths and use the
/// complement's basis V Vᵀ. Float32 gradients: every tolerance is 1e-5 relative, about a hundred float32 epsilons.
/// </summary>
public sealed class GradientProjectorTests
{
    private const double Tolerance = 1e-5;
    private static readonly long[] Widths = [12, 10];

    [Theory]
    [InlineData(ProjectionSite.Gradients, 3, 4)]
    [InlineData(ProjectionSite.Inputs, 3, 4)]
    [InlineData(ProjectionSite.Gradients, 9, 8)]
    [InlineData(ProjectionSite.Inputs, 9, 8)]
    public void Projected_gradients_are_orthogonal_to_the_stored_basis(ProjectionSite site, int rank0, int rank1)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(rank0, rank1);

        var plain = setup.Gradients(null);
        var projected = setup.Gradients(site);

        for (int layer = 0; layer < Widths.Length; layer++)
        {
            var u = setup.Memory.Basis(layer)!;
            double scale = Norm(plain[layer]);
            // Precondition: the raw gradient has a clear component in the basis, so the projection has work to do.
            Assert.True(Norm(plain[layer].to_type(ScalarType.Float64).mm(u)) > 0.1 * scale, $"layer {layer}: raw gradient barely touches the basis");
            double leak = Norm(projected[layer].to_type(ScalarType.Float64).mm(u)) / scale;
            Assert.True(leak < Tolerance, $"layer {layer}: ‖G_p U‖/‖G‖ = {leak:E2}");
        }
    }

    [Theory]
    [InlineData(3, 4)]
    [InlineData(9, 8)]
    public void Projection_removes_exactly_the_component_in_the_basis(int rank0, int rank1)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(rank0, rank1);

        var plain = setup.Gradients(null);
        var projected = setup.Gradients(ProjectionSite.Gradients);

        for (int layer = 0; layer < Widths.Length; layer++)
        {
            var g = plain[layer].to_type(ScalarType.Float64);
            var expected = g - g.mm(Projector(setup.Memory.Basis(layer)!));
            double error = RelativeError(projected[layer], expected);
            Assert.True(error < Tolerance, $"layer {layer}: ‖G_p − (G − G U Uᵀ)‖/‖·‖ = {error:E2}");
        }
    }

    [Theory]
    [InlineData(3, 4)]
    [InlineData(9, 8)]
    public void Input_site_and_gradient_site_give_the_same_projected_gradients(int rank0, int rank1)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(rank0, rank1);

        var onGradients = setup.Gradients(ProjectionSite.Gradients);
        var onInputs = setup.Gradients(ProjectionSite.Inputs);

        // Shared weights, then the head (which neither site projects).
        for (int i = 0; i < onGradients.Count; i++)
        {
            double error = RelativeError(onInputs[i], onGradients[i]);
            Assert.True(error < Tolerance, $"parameter {i}: inputs vs gradients site differ by {error:E2}");
        }
    }

    [Fact]
    public void Input_projection_leaves_the_forward_pass_unchanged()
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(9, 4);

        var plain = setup.Network.Forward(setup.Inputs, 0).detach();
        setup.Network.InputProjector = setup.Projector;
        var routed = setup.Network.Forward(setup.Inputs, 0).detach();
        setup.Network.InputProjector = null;

        Assert.True(RelativeError(routed, plain) < Tolerance);
    }

    [Theory]
    [InlineData(ProjectionSite.Gradients)]
    [InlineData(ProjectionSite.Inputs)]
    public void A_full_rank_basis_blocks_every_shared_gradient(ProjectionSite site)
    {
        using var scope = NewDisposeScope();
        using var setup = new Setup(12, 10);

        var projected = setup.Gradients(site);

        Assert.Equal(0.0, Norm(projected[0]), 6);
        Assert.Equal(0.0, Norm(projected[1]), 6);
        Assert.True(Norm(projected[2]) > 0, "the head is not projected");
    }

    /// <summary>Network, memory with random bases of the given ranks, projector and a fixed batch.</summary>
    private sealed class Setup : IDisposable
    {
        public Setup(int rank0, int rank1)
        {
            manual_seed(1234);
            Network = new MultiHeadMlp((int)Widths[0], [(int)Widths[1], 8]);
            Network.AddHead(3);
            Memory = new GradientProjectionMemory(Widths, new GpmOptions { Thresholds = [0.9] });
            Memory.SetBasis(0, RandomOrthonormal(Widths[0], rank0));
            Memory.SetBasis(1, RandomOrthonormal(Widths[1], rank1));
            Projector = new GradientProjector(Network.SharedLayers, Memory);
            Inputs = randn(16, Widths[0]);
            Labels = randint(0, 3, [16]);
        }

        public MultiHeadMlp Network { get; }

        public GradientProjectionMemory Memory { get; }

        public GradientProjector Projector { get; }

        public Tensor Inputs { get; }

        public Tensor Labels { get; }

        /// <summary>Gradients of every parameter (shared layers, then the head) after one backward pass,
        /// projected at the given site (none for null), as detached copies.</summary>
        public List<Tensor> Gradients(ProjectionSite? site)
        {
            foreach (var p in Network.Parameters)
            {
                p.Tensor.grad?.zero_();
            }

            Network.InputProjector = site == ProjectionSite.Inputs ? Projector : null;
            try
            {
                var loss = F.cross_entropy(Network.Forward(Inputs, 0), Labels);
                loss.backward();
            }
            finally
            {
                Network.InputProjector = null;
            }

            if (site == ProjectionSite.Gradients)
            {
                Projector.ProjectGradients();
            }

            return Network.Parameters.Select(p => p.Tensor.grad!.detach().clone()).ToList();
        }

        public void Dispose()
        {
            Projector.Dispose();
            Memory.Dispose();
            Network.Dispose();
        }
    }
}
