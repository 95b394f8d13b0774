using BenchmarkDotNet.Attributes;
using Became.Core.Projection;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Benchmarks;

/// <summary>One SGD step at batch 10 as the trainer runs it (one intra-op thread): plain, and with the
/// projection applied to the gradients (the reference's path) or to the layer inputs (the default).</summary>
[MemoryDiagnoser]
public class SgdStepBenchmarks
{
    private BenchmarkFixture _fixture = null!;
    private Tensor _x = null!;
    private Tensor _y = null!;

    [Params(170, 460)]
    public int Rank { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new BenchmarkFixture(threads: 1, Rank);
        _x = randn(10, 784).DetachFromDisposeScope();
        _y = randint(0, 10, [10]).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fixture.Dispose();
        _x.Dispose();
        _y.Dispose();
    }

    [Benchmark(Baseline = true, Description = "step, no projection")]
    public void Plain() => Step(null, projectGradients: false);

    [Benchmark(Description = "step, projected gradients")]
    public void ProjectedGradients() => Step(null, projectGradients: true);

    [Benchmark(Description = "step, projected inputs")]
    public void ProjectedInputs() => Step(_fixture.Projector, projectGradients: false);

    private void Step(GradientProjector? inputProjector, bool projectGradients)
    {
        using var scope = NewDisposeScope();
        var network = _fixture.Network;
        network.InputProjector = inputProjector;
        var loss = F.cross_entropy(network.Forward(_x, 0), _y);
        loss.backward();
        if (projectGradients)
        {
            _fixture.Projector.ProjectGradients();
        }

        using (no_grad())
        {
            foreach (var p in network.Parameters)
            {
                var grad = p.Tensor.grad;
                if (grad is not null)
                {
                    p.Tensor.add_(grad, alpha: -1e-6);
                    grad.zero_();
                }
            }
        }

        network.InputProjector = null;
    }
}
