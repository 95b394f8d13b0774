using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// Per-layer orthonormal bases of the input spaces earlier tasks used (GPM). Gradients projected onto
/// their orthogonal complement leave the layers' responses to those inputs unchanged. Where the base method weighs
/// directions (<see cref="ProjectionKind.WeighsDirections"/>: SGP) each also carries an importance in (0, 1].
/// </summary>
public sealed class GradientProjectionMemory : IDisposable
{
    private readonly Tensor?[] _bases;
    private readonly Tensor?[] _importances;
    private readonly long[] _dimensions;

    public GradientProjectionMemory(IReadOnlyList<long> inputDimensions, GpmOptions options)
    {
        options.Validate(inputDimensions.Count);
        Options = options;
        _dimensions = inputDimensions.ToArray();
        _bases = new Tensor?[_dimensions.Length];
        _importances = new Tensor?[_dimensions.Length];
    }

    public GpmOptions Options { get; }

    public int LayerCount => _bases.Length;

    /// <summary>Columns in each layer's basis.</summary>
    public int[] Ranks => _bases.Select(b => b is null ? 0 : (int)b.shape[1]).ToArray();

    public bool IsEmpty => _bases.All(b => b is null);

    /// <summary>Layer l's basis (float64, in x k, orthonormal columns), or null while empty.</summary>
    public Tensor? Basis(int layer) => _bases[layer];

    /// <summary>Layer l's SGP importances (float64, one per basis column, in (0, 1]), or null: every direction
    /// fully protected (GPM).</summary>
    public Tensor? Importance(int layer) => _importances[layer];

    /// <summary>Replaces a layer's importances (e.g. when loading saved state) with a float64 copy; null = all 1.</summary>
    public void SetImportance(int layer, Tensor? importance)
    {
        long rank = _bases[layer]?.shape[1] ?? 0;
        if (importance is not null && (importance.dim() != 1 || importance.shape[0] != rank))
        {
            throw new ArgumentException($"Layer {layer}'s importances must be a vector of its basis rank ({rank}).");
        }

        _importances[layer]?.Dispose();
        _importances[layer] = importance?.to_type(ScalarType.Float64).detach().clone().DetachFromDisposeScope();
    }

    /// <summary>Replaces a layer's basis (e.g. when loading saved state); takes ownership of a float64 copy.
    /// Its importances are dropped (set them after the basis).</summary>
    public void SetBasis(int layer, Tensor? basis)
    {
        if (basis is not null && (basis.dim() != 2 || basis.shape[0] != _dimensions[layer] || basis.shape[1] > _dimensions[layer]))
        {
            throw new ArgumentException($"Layer {layer}'s basis must be {_dimensions[layer]} x k with k <= {_dimensions[layer]}.");
        }

        _bases[layer]?.Dispose();
        _importances[layer]?.Dispose();
        _importances[layer] = null;
        _bases[layer] = basis?.to_type(ScalarType.Float64).detach().clone().DetachFromDisposeScope();
    }

    /// <summary>
    /// Extends every layer's basis from the representation matrices of a new task (columns = inputs the
    /// layer saw, in x n) and returns the new ranks.
    /// </summary>
    public int[] Update(IReadOnlyList<Tensor> representations, int taskIndex)
    {
        if (representations.Count != _bases.Length)
        {
            throw new ArgumentException($"Expected {_bases.Length} representation matrices, got {representations.Count}.");
        }

        for (int layer = 0; layer < _bases.Length; layer++)
        {
            if (representations[layer].shape[0] != _dimensions[layer])
            {
                throw new ArgumentException($"Layer {layer}'s representation has {representations[layer].shape[0]} rows; expected {_dimensions[layer]}.");
            }

            using var scope = NewDisposeScope();
            var r = representations[layer].detach().to_type(ScalarType.Float64);
            double threshold = Options.ThresholdFor(layer, taskIndex);
            var current = _bases[layer];
            var growth = current is null ? FirstBasis(r, threshold) : Extend(current, r, threshold);
            if (growth is null)
            {
                continue;
            }

            var (extended, added) = growth.Value;
            var importance = current is null
                ? Options.Projection.FirstImportance(added, Options)
                : Options.Projection.ExtendedImportance(_importances[layer], current, r, added, Options);
            if (importance is not null)
            {
                importance = importance.narrow(0, 0, (extended ?? current!).shape[1]).contiguous();
                _importances[layer]?.Dispose();
                _importances[layer] = importance.DetachFromDisposeScope();
            }

            if (extended is not null)
            {
                extended.DetachFromDisposeScope();
                current?.Dispose();
                _bases[layer] = extended;
            }
        }

        return Ranks;
    }

    public void Dispose()
    {
        foreach (var tensor in _bases.Concat(_importances))
        {
            tensor?.Dispose();
        }
    }

    /// <summary>The first basis and the singular values of its columns, or null when the matrix is zero.</summary>
    private (Tensor? Basis, Tensor Singular)? FirstBasis(Tensor r, double threshold)
    {
        var (u, s) = LeftSingular(r);
        var energy = s.square();
        double total = energy.sum().item<double>();
        if (total <= 0)
        {
            return null;
        }

        var cumulative = energy.cumsum(0).div(total).cpu().data<double>().ToArray();
        int rank = Options.ReachThresholdOnFirstTask
            ? Math.Min(cumulative.Length, cumulative.TakeWhile(c => c < threshold).Count() + 1)
            : cumulative.Count(c => c < threshold);
        return rank == 0 ? null : (u.narrow(1, 0, rank).contiguous(), s.narrow(0, 0, rank));
    }

    /// <summary>
    /// The left singular vectors of <paramref name="r"/> (in x n) and its singular values, largest first. A wide
    /// matrix (a convolution's patches: n is samples x positions, many times its rows) goes through the
    /// eigendecomposition of its Gram matrix r rᵀ: one GEMM and an in x in eigh, 5-10x faster than its SVD
    /// (resnet18's 720 x 6400 patches: 0.10 s against 0.64 s), and its eigenvalues are the squared singular
    /// values the energy criterion reads. Only directions that carry a threshold's share of the energy are kept,
    /// so squaring the condition number loses nothing that is used. A tall matrix keeps the SVD.
    /// </summary>
    private static (Tensor U, Tensor S) LeftSingular(Tensor r)
    {
        if (r.shape[0] > r.shape[1])
        {
            var (u, s, vh) = linalg.svd(r, fullMatrices: false);
            vh.Dispose();
            return (u, s);
        }

        var (eigenvalues, eigenvectors) = linalg.eigh(r.mm(r.t()));
        // eigh sorts ascending; rounding can leave the smallest slightly below zero.
        return (eigenvectors.flip(1), eigenvalues.flip(0).clamp_min(0).sqrt());
    }

    /// <summary>The extended basis (null when nothing is added) and the singular values of the added columns
    /// (possibly none); null when the matrix is zero.</summary>
    private static (Tensor? Basis, Tensor Singular)? Extend(Tensor basis, Tensor r, double threshold)
    {
        double total = r.square().sum().item<double>();
        if (total <= 0)
        {
            return null;
        }

        // Energy the stored basis already explains, then new directions from the residual, largest first.
        var residual = r - basis.mm(basis.t().mm(r));
        var (u, s) = LeftSingular(residual);
        var shares = s.square().div(total).cpu().data<double>().ToArray();
        double explained = (total - residual.square().sum().item<double>()) / total;
        int add = 0;
        while (add < shares.Length && explained < threshold)
        {
            explained += shares[add];
            add++;
        }

        var added = s.narrow(0, 0, add);
        if (add == 0)
        {
            return (null, added);
        }

        var combined = cat([basis, u.narrow(1, 0, add)], 1);
        long rows = combined.shape[0];
        return (combined.shape[1] > rows ? combined.narrow(1, 0, rows).contiguous() : combined, added);
    }
}
