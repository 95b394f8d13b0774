using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// SGP's importances (Saha and Roy, 2023): each stored direction is weighted by lambda = (s+1)σ / (sσ + max σ)
/// from its singular value σ, so the direction that carries the most energy is fully protected (lambda = 1) and
/// weak ones are left partly free. Later tasks that re-use an old direction raise its importance.
/// </summary>
public static class ScaledGradientProjection
{
    /// <summary>lambda = (s+1)σ / (sσ + max σ) elementwise (float64, in (0, 1] for positive σ).</summary>
    public static Tensor Importance(Tensor singularValues, double scale)
    {
        using var scope = NewDisposeScope();
        var sigma = singularValues.to_type(ScalarType.Float64);
        // A zero maximum only arises from an all-zero representation; it then protects nothing.
        double max = Math.Max(sigma.max().item<double>(), double.Epsilon);
        return sigma.mul(scale + 1).div(sigma.mul(scale).add(max)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Importances after a later task, as the reference computes them: the new task's singular values along the
    /// old directions (the row norms of Uᵀ R, which equal the reference's sqrt((Uᵀ U_c)² S_c²) for
    /// U_c S_c = svd(U Uᵀ R)) followed by those of the added directions are scaled together by
    /// <see cref="Importance"/>; each old direction then adds its previous importance, clipped to 1.
    /// </summary>
    /// <param name="previous">Importances of the <c>k</c> stored directions.</param>
    /// <param name="basis">The stored basis U (in x k) before the update.</param>
    /// <param name="representation">The new task's representation matrix R (in x n).</param>
    /// <param name="addedSingularValues">Singular values of the directions appended to the basis (may be empty).</param>
    /// <param name="scale">SGP's s.</param>
    public static Tensor Extended(Tensor previous, Tensor basis, Tensor representation, Tensor addedSingularValues, double scale)
    {
        using var scope = NewDisposeScope();
        var onOld = basis.t().mm(representation.to_type(basis.dtype)).square().sum(1).sqrt();
        var combined = Importance(cat([onOld, addedSingularValues.to_type(ScalarType.Float64)], 0), scale);
        long k = previous.shape[0];
        var old = combined.narrow(0, 0, k).add(previous.to_type(ScalarType.Float64)).clamp(0, 1);
        return cat([old, combined.narrow(0, k, combined.shape[0] - k)], 0).MoveToOuterDisposeScope();
    }
}
