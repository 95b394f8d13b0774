using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>Tensor helpers of the algorithm tests: norms and comparisons in float64.</summary>
internal static class AlgorithmTensors
{
    /// <summary>Frobenius norm in float64.</summary>
    public static double Norm(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to_type(ScalarType.Float64).norm().item<double>();
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ in float64.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var a = actual.detach().to_type(ScalarType.Float64);
        var e = expected.detach().to_type(ScalarType.Float64);
        return (a - e).norm().item<double>() / e.norm().item<double>();
    }

    /// <summary>Largest absolute entry of UᵀU − I.</summary>
    public static double OrthonormalityError(Tensor basis)
    {
        using var scope = NewDisposeScope();
        var u = basis.to_type(ScalarType.Float64);
        return (u.t().mm(u) - eye(u.shape[1], dtype: ScalarType.Float64)).abs().max().item<double>();
    }

    /// <summary>A random n x k matrix with orthonormal columns (float64), from the global generator.</summary>
    public static Tensor RandomOrthonormal(long n, long k)
    {
        var (q, _) = linalg.qr(randn(n, k, dtype: ScalarType.Float64));
        return q;
    }

    /// <summary>The orthogonal projector U Uᵀ onto the span of a basis's columns.</summary>
    public static Tensor Projector(Tensor basis)
    {
        var u = basis.to_type(ScalarType.Float64);
        return u.mm(u.t());
    }

    /// <summary>Disposes tensors that were made outside every dispose scope (e.g. a Fisher dictionary).</summary>
    public static IDisposable Owning(IEnumerable<Tensor> tensors) => new Owned([.. tensors]);

    /// <summary>Runs libtorch on one intra-op thread until disposed, then restores the previous count. The
    /// real-data runs are small sequential work: on a shared 2-core machine OpenMP's second thread only waits.</summary>
    public static IDisposable SingleThread() => new ThreadCount(1);

    private sealed class Owned(List<Tensor> tensors) : IDisposable
    {
        public void Dispose() => tensors.ForEach(t => t.Dispose());
    }

    private sealed class ThreadCount : IDisposable
    {
        private readonly int _previous;

        public ThreadCount(int threads)
        {
            _previous = get_num_threads();
            set_num_threads(threads);
        }

        public void Dispose() => set_num_threads(_previous);
    }
}
