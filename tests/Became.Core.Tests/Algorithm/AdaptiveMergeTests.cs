using Became.Core.Merging;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>BECAME's merge coefficient a = Σ F_t d² / Σ (F_t + F_old) d² with d = plastic − stable, and the merge itself.</summary>
public sealed class AdaptiveMergeTests
{
    // Two parameters: a vector and a 1 x 2 matrix.
    private static readonly double[] StableA = [1.0, 2.0, -0.5];
    private static readonly double[] PlasticA = [2.0, 0.0, -0.5];
    private static readonly double[] StableB = [0.5, 1.0];
    private static readonly double[] PlasticB = [1.5, 0.25];
    private static readonly double[] TaskA = [0.2, 0.1, 9.0];
    private static readonly double[] TaskB = [0.4, 0.8];
    private static readonly double[] OldA = [0.3, 0.05, 7.0];
    private static readonly double[] OldB = [0.6, 0.2];

    [Fact]
    public void Coefficient_matches_a_hand_computed_example()
    {
        using var scope = NewDisposeScope();
        double numerator = 0, denominator = 0;
        foreach (var (s, p, ft, fo) in new[] { (StableA, PlasticA, TaskA, OldA), (StableB, PlasticB, TaskB, OldB) })
        {
            for (int i = 0; i < s.Length; i++)
            {
                double d2 = (p[i] - s[i]) * (p[i] - s[i]);
                numerator += ft[i] * d2;
                denominator += (ft[i] + fo[i]) * d2;
            }
        }

        // 0.2·1 + 0.1·4 + 0 + 0.4·1 + 0.8·0.5625 = 1.45; old: 0.3 + 0.2 + 0 + 0.6 + 0.1125 = 1.2125.
        Assert.Equal(1.45 / 2.6625, numerator / denominator, 12);

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), Dict(TaskA, TaskB), Dict(OldA, OldB));

        Assert.Equal(numerator / denominator, a, 6);
    }

    [Fact]
    public void Coefficient_lies_in_the_unit_interval_for_random_inputs()
    {
        using var scope = NewDisposeScope();
        manual_seed(21);
        for (int trial = 0; trial < 50; trial++)
        {
            // Fisher values spread over six orders of magnitude, some entries zero.
            var stable = RandomDict(1.0);
            var plastic = stable.ToDictionary(kv => kv.Key, kv => kv.Value + randn_like(kv.Value) * Math.Exp(2 * randn(1).item<float>()));
            var task = RandomFisher();
            var old = RandomFisher();

            double a = AdaptiveMerge.Coefficient(stable, plastic, task, old);

            Assert.InRange(a, 0.0, 1.0);
        }
    }

    [Fact]
    public void Coefficient_is_one_when_the_old_Fisher_is_zero()
    {
        using var scope = NewDisposeScope();
        var old = Dict(OldA, OldB).ToDictionary(kv => kv.Key, kv => zeros_like(kv.Value));

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), Dict(TaskA, TaskB), old);

        Assert.Equal(1.0, a, 12);
    }

    [Fact]
    public void Coefficient_is_one_when_there_is_no_old_Fisher()
    {
        using var scope = NewDisposeScope();

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), Dict(TaskA, TaskB), null);

        Assert.Equal(1.0, a, 12);
    }

    [Fact]
    public void Coefficient_tends_to_zero_when_the_old_Fisher_dominates()
    {
        // F_old = 1e6 F_t gives a = 1 / (1 + 1e6) exactly.
        using var scope = NewDisposeScope();
        var old = Dict(TaskA, TaskB).ToDictionary(kv => kv.Key, kv => kv.Value * 1e6);

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), Dict(TaskA, TaskB), old);

        Assert.Equal(1.0 / (1.0 + 1e6), a, 10);
        Assert.True(a > 0);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(1e-4)]
    [InlineData(37.0)]
    public void Coefficient_is_unchanged_when_both_Fishers_are_scaled_alike(double scale)
    {
        // The reference's batch Fisher on the split-fmnist MLP came out at ≈ exact / batch size for both F_t and
        // F_old (measured: a 0.8075 vs 0.8055 at the first merge), so the estimator choice barely moves a.
        using var scope = NewDisposeScope();
        var task = Dict(TaskA, TaskB).ToDictionary(kv => kv.Key, kv => kv.Value * scale);
        var old = Dict(OldA, OldB).ToDictionary(kv => kv.Key, kv => kv.Value * scale);

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), task, old);

        Assert.Equal(1.45 / 2.6625, a, 6);
    }

    [Fact]
    public void Parameters_missing_from_the_old_Fisher_count_as_zero_information()
    {
        // Only "b" has old information: a = 1.45 / (1.45 + 0.6 + 0.1125).
        using var scope = NewDisposeScope();
        var old = new Dictionary<string, Tensor> { ["b"] = Dict(OldA, OldB)["b"] };

        double a = AdaptiveMerge.Coefficient(Dict(StableA, StableB), Dict(PlasticA, PlasticB), Dict(TaskA, TaskB), old);

        Assert.Equal(1.45 / 2.1625, a, 6);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    [InlineData(1.0)]
    public void Interpolate_gives_stable_plus_a_times_plastic_minus_stable(double a)
    {
        using var scope = NewDisposeScope();
        var stable = Dict(StableA, StableB);
        var plastic = Dict(PlasticA, PlasticB);

        var merged = AdaptiveMerge.Interpolate(stable, plastic, a);

        Assert.Equal(["a", "b"], merged.Keys.Order());
        for (int i = 0; i < StableA.Length; i++)
        {
            Assert.Equal(StableA[i] + (a * (PlasticA[i] - StableA[i])), merged["a"][i].item<float>(), 6);
        }

        Assert.Equal(new long[] { 1, 2 }, merged["b"].shape);
        for (int i = 0; i < StableB.Length; i++)
        {
            Assert.Equal(StableB[i] + (a * (PlasticB[i] - StableB[i])), merged["b"][0, i].item<float>(), 6);
        }

        foreach (var t in merged.Values)
        {
            t.Dispose();
        }
    }

    private static Dictionary<string, Tensor> Dict(double[] a, double[] b) => new()
    {
        ["a"] = tensor(a.Select(x => (float)x).ToArray()),
        ["b"] = tensor(b.Select(x => (float)x).ToArray(), [1, 2]),
    };

    private static Dictionary<string, Tensor> RandomDict(double scale) => new()
    {
        ["w0"] = randn(6, 5) * scale,
        ["w1"] = randn(3, 6) * scale,
    };

    private static Dictionary<string, Tensor> RandomFisher() => RandomDict(1.0).ToDictionary(
        kv => kv.Key,
        kv => (exp(randn_like(kv.Value) * 3) * (rand_like(kv.Value) > 0.2)).to_type(ScalarType.Float32));
}
