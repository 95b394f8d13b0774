using BenchmarkDotNet.Attributes;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Native;
using Became.Core.Projection;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Benchmarks;

/// <summary>
/// The learner's hot paths on the benchmark's shapes (784-100-100 MLP, batch 10, 2 threads): one SGD step
/// plain and with the projection at either site, a GPM memory update, and a Fisher pass. Inputs are
/// random with a low-rank structure so the memory has realistic ranks (the bases come from 300 samples).
/// </summary>
[MemoryDiagnoser]
public class LearnerStepBenchmarks
{
    private const int Batch = 10;
    private MultiHeadMlp _network = null!;
    private GradientProjectionMemory _memory = null!;
    private GradientProjector _projector = null!;
    private Tensor _x = null!;
    private Tensor _y = null!;
    private LabelledSet _fisherData = null!;
    private Tensor[] _representations = null!;

    /// <summary>Rank of the first layer's memory (GPM reaches ~170 on split-fmnist, ~460 on permuted-fmnist).</summary>
    [Params(170, 460)]
    public int Rank { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.Initialize();
        set_num_threads(2);
        manual_seed(0);
        _network = new MultiHeadMlp(784, [100, 100]);
        _network.AddHead(10);
        _memory = new GradientProjectionMemory([784, 100], new GpmOptions());
        using (var scope = NewDisposeScope())
        {
            var u1 = linalg.qr(randn(784, Rank)).Q;
            var u2 = linalg.qr(randn(100, 60)).Q;
            _memory.SetBasis(0, u1);
            _memory.SetBasis(1, u2);
        }

        _projector = new GradientProjector(_network.SharedLayers, _memory);
        _x = randn(Batch, 784).DetachFromDisposeScope();
        _y = randint(0, 10, [Batch]).DetachFromDisposeScope();
        _fisherData = new LabelledSet(randn(2000, 784), randint(0, 10, [2000]));
        _representations = [randn(784, 300), randn(100, 300)];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _projector.Dispose();
        _memory.Dispose();
        _network.Dispose();
        _fisherData.Dispose();
        foreach (var r in _representations)
        {
            r.Dispose();
        }
    }

    [Benchmark(Baseline = true, Description = "SGD step (no projection)")]
    public void PlainStep() => Step(null, project: false);

    [Benchmark(Description = "SGD step, projected gradients")]
    public void ProjectedGradientStep() => Step(null, project: true);

    [Benchmark(Description = "SGD step, projected inputs")]
    public void ProjectedInputStep() => Step(_projector, project: false);

    [Benchmark(Description = "GPM update (784x300, 100x300)")]
    public void GpmUpdate()
    {
        using var memory = new GradientProjectionMemory([784, 100], new GpmOptions());
        memory.Update(_representations, 0);
        memory.Update(_representations, 1);
    }

    [Benchmark(Description = "Fisher, exact per-sample (2000 samples)")]
    public void FisherExact() => Dispose(DiagonalFisher.Compute(_network, 0, _fisherData, new FisherOptions(FisherEstimator.Exact)));

    [Benchmark(Description = "Fisher, batch-squared (2000 samples, batch 10)")]
    public void FisherBatch() => Dispose(DiagonalFisher.Compute(_network, 0, _fisherData, new FisherOptions(FisherEstimator.Batch)));

    private void Step(GradientProjector? inputProjector, bool project)
    {
        using var scope = NewDisposeScope();
        _network.InputProjector = inputProjector;
        var loss = F.cross_entropy(_network.Forward(_x, 0), _y);
        loss.backward();
        if (project)
        {
            _projector.ProjectGradients();
        }

        using (no_grad())
        {
            foreach (var p in _network.Parameters)
            {
                var grad = p.Tensor.grad;
                if (grad is not null)
                {
                    p.Tensor.add_(grad, alpha: -1e-6);
                    grad.zero_();
                }
            }
        }

        _network.InputProjector = null;
    }

    private static void Dispose(Dictionary<string, Tensor> values)
    {
        foreach (var v in values.Values)
        {
            v.Dispose();
        }
    }
}
