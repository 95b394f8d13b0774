using Became.Core.Models;
using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// Replaces each shared weight's gradient G (out x in) by G - G U Uᵀ, its component orthogonal to the
/// stored basis U. Built once per task from the memory; cheap to apply after every backward pass.
/// </summary>
public sealed class GradientProjector : IDisposable
{
    private readonly (Tensor Weight, Tensor Left, Tensor Right, bool Complement)?[] _layers;

    /// <summary>Prepares the projection of the network's shared layers onto the complement of the memory.</summary>
    public GradientProjector(IReadOnlyList<SharedLayer> layers, GradientProjectionMemory memory)
    {
        _layers = new (Tensor, Tensor, Tensor, bool)?[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            var basis = memory.Basis(i);
            if (basis is null)
            {
                continue;
            }

            using var scope = NewDisposeScope();
            var weight = layers[i].Weight;
            long n = basis.shape[0];
            long k = basis.shape[1];

            // G - G U Uᵀ = G V Vᵀ with V the complement's basis: use whichever has fewer columns.
            bool complement = 2 * k > n;
            Tensor columns = complement ? Complement(basis) : basis;
            var left = columns.to_type(weight.dtype).to(weight.device).contiguous();
            var right = left.t().contiguous();
            left.DetachFromDisposeScope();
            right.DetachFromDisposeScope();
            _layers[i] = (weight, left, right, complement);
        }
    }

    /// <summary>Projects the current gradients of the shared weights in place.</summary>
    public void Project()
    {
        foreach (var layer in _layers)
        {
            if (layer is not { } l)
            {
                continue;
            }

            using var grad = l.Weight.grad;
            if (grad is null)
            {
                continue;
            }

            using var inner = grad.mm(l.Left);
            if (l.Complement)
            {
                using var projected = inner.mm(l.Right);
                grad.copy_(projected);
            }
            else
            {
                using var correction = inner.mm(l.Right);
                grad.sub_(correction);
            }
        }
    }

    public void Dispose()
    {
        foreach (var layer in _layers)
        {
            layer?.Left.Dispose();
            layer?.Right.Dispose();
        }
    }

    /// <summary>An orthonormal basis of the orthogonal complement of the columns of <paramref name="basis"/>.</summary>
    internal static Tensor Complement(Tensor basis)
    {
        long n = basis.shape[0];
        long k = basis.shape[1];
        var (u, _, _) = linalg.svd(basis, fullMatrices: true);
        return u.narrow(1, k, n - k).contiguous();
    }
}
