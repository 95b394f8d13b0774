using static TorchSharp.torch;

namespace Became.Core.Merging;

/// <summary>
/// BECAME's closed-form merge: along the line from the stable to the plastic weights, the maximiser of the
/// Laplace-approximated posterior is a = Σ F_t d² / Σ (F_t + F_old) d², with d = plastic - stable.
/// </summary>
public static class AdaptiveMerge
{
    /// <summary>The merge coefficient in [0, 1]; non-finite weights or Fisher values are an error. Parameters absent from a Fisher dictionary count as zero
    /// information; when no parameter moved (d = 0) every a gives the same weights and 1 is returned.</summary>
    public static double Coefficient(
        IReadOnlyDictionary<string, Tensor> stable,
        IReadOnlyDictionary<string, Tensor> plastic,
        IReadOnlyDictionary<string, Tensor> fisherTask,
        IReadOnlyDictionary<string, Tensor>? fisherOld)
    {
        double numerator = 0;
        double denominator = 0;
        foreach (var (name, s) in stable)
        {
            if (!plastic.TryGetValue(name, out var p))
            {
                throw new ArgumentException($"The plastic weights lack '{name}'.");
            }

            using var scope = NewDisposeScope();
            var d2 = (p - s).to_type(ScalarType.Float64).square();
            double task = fisherTask.TryGetValue(name, out var ft) ? d2.mul(ft.to_type(ScalarType.Float64)).sum().item<double>() : 0;
            double old = fisherOld is not null && fisherOld.TryGetValue(name, out var fo) ? d2.mul(fo.to_type(ScalarType.Float64)).sum().item<double>() : 0;
            numerator += task;
            denominator += task + old;
        }

        if (!double.IsFinite(numerator) || !double.IsFinite(denominator))
        {
            throw new ArgumentException("The Fisher-weighted distance between the stable and plastic weights is not finite (a stage diverged).");
        }

        return denominator > 0 ? Math.Clamp(numerator / denominator, 0, 1) : 1;
    }

    /// <summary>The fixed merge of the reference's no-Fisher path: a = 1/(t+1) for task index t.</summary>
    public static double Fixed(int taskIndex) => 1.0 / (taskIndex + 1);

    /// <summary>theta = stable + a (plastic - stable), per tensor, as new tensors.</summary>
    public static Dictionary<string, Tensor> Interpolate(IReadOnlyDictionary<string, Tensor> stable, IReadOnlyDictionary<string, Tensor> plastic, double a)
    {
        var merged = new Dictionary<string, Tensor>(stable.Count);
        foreach (var (name, s) in stable)
        {
            merged[name] = s.lerp(plastic[name], a).DetachFromDisposeScope();
        }

        return merged;
    }
}
