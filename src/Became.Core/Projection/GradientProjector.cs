using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Projection;

/// <summary>Where the projection onto the complement of the memory is applied.</summary>
public enum ProjectionSite
{
    /// <summary>After backward, G &lt;- G - G U Uᵀ on each shared weight's gradient (the reference's path).</summary>
    Gradients,

    /// <summary>
    /// In the forward pass: a linear layer's weight gradient is Δᵀ X, so G - G U Uᵀ = Δᵀ (X - X U Uᵀ). Feeding
    /// the weight the projected inputs (and the remainder through a detached copy of it) gives the same
    /// gradient at batch x in cost instead of out x in: ten times less at batch 10 and width 100.
    /// </summary>
    Inputs,
}

/// <summary>
/// Keeps each shared weight's gradient G (out x in, a conv kernel flattened to out x in*k*k) orthogonal to the
/// stored basis U: G - G U Uᵀ, or with SGP importances Λ, G - G U Λ Uᵀ. Built once per task from the memory;
/// applied either to gradients after backward or to layer inputs in the forward pass (linear layers).
/// </summary>
public sealed class GradientProjector : IDisposable, ILayerInputProjection
{
    private readonly LayerProjection?[] _layers;

    /// <summary>Prepares the projection of the network's shared layers onto the complement of the memory.</summary>
    public GradientProjector(IReadOnlyList<SharedLayer> layers, GradientProjectionMemory memory)
    {
        _layers = new LayerProjection?[layers.Count];
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

            // P = I - U Uᵀ = V Vᵀ with V the complement's basis: use whichever has fewer columns. SGP's
            // P = I - U Λ Uᵀ has no such complement form.
            var importance = memory.Importance(i);
            bool complement = importance is null && 2 * k > n;
            Tensor columns = complement ? Complement(basis) : basis;
            var left = columns.to_type(weight.dtype).to(weight.device).contiguous().DetachFromDisposeScope();
            var scaled = importance is null ? columns : columns.mul(importance.unsqueeze(0));
            var right = scaled.t().to_type(weight.dtype).to(weight.device).contiguous().DetachFromDisposeScope();
            _layers[i] = new LayerProjection(weight, left, right, complement);
        }
    }

    /// <summary>Projects the current gradients of the shared weights in place (<see cref="ProjectionSite.Gradients"/>).</summary>
    public void ProjectGradients()
    {
        foreach (var layer in _layers)
        {
            if (layer is null)
            {
                continue;
            }

            using var grad = layer.Weight.grad;
            if (grad is not null)
            {
                // A conv kernel's gradient [out, in, k, k] is projected as the out x in*k*k matrix it flattens to.
                using var flat = grad.view(grad.shape[0], -1);
                using var projected = layer.Apply(flat);
                flat.copy_(projected);
            }
        }
    }

    /// <summary>
    /// A shared linear layer's output x Wᵀ whose weight gradient is already projected
    /// (<see cref="ProjectionSite.Inputs"/>): (x P) Wᵀ + (x - x P) sg(W)ᵀ, where sg stops the gradient.
    /// The gradient reaching x is unchanged.
    /// </summary>
    public Tensor Linear(int layerIndex, Tensor input, Tensor weight)
    {
        var layer = _layers[layerIndex];
        if (layer is null)
        {
            return F.linear(input, weight);
        }

        using var free = layer.Apply(input);
        using var kept = input - free;
        using var fromFree = F.linear(free, weight);
        using var frozen = weight.detach();
        using var fromKept = F.linear(kept, frozen);
        return fromFree + fromKept;
    }

    public Tensor? ProjectInput(int layerIndex, Tensor input) => _layers[layerIndex]?.Apply(input);

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

    private sealed record LayerProjection(Tensor Weight, Tensor Left, Tensor Right, bool Complement)
    {
        /// <summary>Rows of <paramref name="m"/> (…, in) times P = I - U Uᵀ (Right = Λ Uᵀ with SGP: P stays symmetric).</summary>
        public Tensor Apply(Tensor m)
        {
            using var inner = m.matmul(Left);
            if (Complement)
            {
                return inner.matmul(Right);
            }

            using var kept = inner.matmul(Right);
            return m - kept;
        }
    }
}
