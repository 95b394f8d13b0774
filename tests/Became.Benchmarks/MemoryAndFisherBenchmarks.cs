using BenchmarkDotNet.Attributes;
using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Projection;
using static TorchSharp.torch;

namespace Became.Benchmarks;

/// <summary>The per-task passes on 2 threads: a GPM memory update (first and second task) and a Fisher
/// pass over 2,000 samples, exact per-sample versus the reference's batch-squared estimator.</summary>
[MemoryDiagnoser]
public class MemoryAndFisherBenchmarks
{
    private BenchmarkFixture _fixture = null!;
    private LabelledSet _data = null!;
    private Tensor[] _representations = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new BenchmarkFixture(threads: 2, rank: 170);
        _data = new LabelledSet(randn(2000, 784).DetachFromDisposeScope(), randint(0, 10, [2000]).DetachFromDisposeScope());
        _representations = [randn(784, 300).DetachFromDisposeScope(), randn(100, 300).DetachFromDisposeScope()];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fixture.Dispose();
        _data.Dispose();
        foreach (var r in _representations)
        {
            r.Dispose();
        }
    }

    [Benchmark(Description = "GPM update, two tasks (784x300, 100x300)")]
    public void GpmUpdate()
    {
        using var memory = new GradientProjectionMemory([784, 100], new GpmOptions());
        memory.Update(_representations, 0);
        memory.Update(_representations, 1);
    }

    [Benchmark(Baseline = true, Description = "Fisher exact, 2000 samples")]
    public void FisherExact() => Release(DiagonalFisher.Compute(_fixture.Network, 0, _data, new FisherOptions(FisherEstimator.Exact)));

    [Benchmark(Description = "Fisher batch-squared, 2000 samples, batch 10")]
    public void FisherBatch() => Release(DiagonalFisher.Compute(_fixture.Network, 0, _data, new FisherOptions(FisherEstimator.Batch)));

    private static void Release(Dictionary<string, Tensor> values)
    {
        foreach (var v in values.Values)
        {
            v.Dispose();
        }
    }
}
