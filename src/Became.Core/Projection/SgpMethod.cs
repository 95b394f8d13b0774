using static TorchSharp.torch;

namespace Became.Core.Projection;

/// <summary>
/// SGP as a base method: GPM's stage 1 and memory, with each stored direction weighted by an importance
/// (<see cref="ScaledGradientProjection"/>, scale <see cref="GpmOptions.ScaleCoefficient"/>, 10 by default), so
/// stage 1 removes G U Λ Uᵀ instead of G U Uᵀ.
/// </summary>
public sealed class SgpMethod : GpmMethod
{
    public override string Name => "sgp";

    public override string Description => "scaled gradient projection: stored directions removed in proportion to their importance";

    public override bool WeighsDirections => true;

    public override Tensor? FirstImportance(Tensor singularValues, GpmOptions options) =>
        ScaledGradientProjection.Importance(singularValues, options.ScaleCoefficient);

    public override Tensor? ExtendedImportance(Tensor? previous, Tensor basis, Tensor representation, Tensor addedSingularValues, GpmOptions options) =>
        ScaledGradientProjection.Extended(
            previous ?? ones(basis.shape[1], dtype: ScalarType.Float64, device: basis.device),
            basis,
            representation,
            addedSingularValues,
            options.ScaleCoefficient);
}
