using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Projection;
using static TorchSharp.torch;

namespace Became.Benchmarks;

/// <summary>The shapes of the benchmark protocol: a 784-100-100 MLP with a 10-class head and a filled memory.</summary>
internal sealed class BenchmarkFixture : IDisposable
{
    public BenchmarkFixture(int threads, int rank)
    {
        TorchRuntime.Initialize();
        set_num_threads(threads);
        manual_seed(0);
        Network = new MultiHeadMlp(784, [100, 100]);
        Network.AddHead(10);
        Memory = new GradientProjectionMemory([784, 100], new GpmOptions());
        using (var scope = NewDisposeScope())
        {
            // Orthonormal bases of the ranks GPM reaches (~170 / 60 on split-fmnist, ~460 / 98 on permuted-fmnist).
            Memory.SetBasis(0, linalg.qr(randn(784, rank)).Q);
            Memory.SetBasis(1, linalg.qr(randn(100, rank > 300 ? 98 : 60)).Q);
        }

        Projector = new GradientProjector(Network.SharedLayers, Memory);
    }

    public MultiHeadMlp Network { get; }

    public GradientProjectionMemory Memory { get; }

    public GradientProjector Projector { get; }

    public void Dispose()
    {
        Projector.Dispose();
        Memory.Dispose();
        Network.Dispose();
    }
}
