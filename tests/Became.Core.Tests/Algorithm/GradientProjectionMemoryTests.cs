using Became.Core.Projection;
using static Became.Core.Tests.Algorithm.AlgorithmTensors;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>
/// How the feature memory chooses and grows its bases. Representations with a known spectrum are built as
/// R = Q diag(s) Vᵀ with orthonormal Q (8 x 5) and V, so the energy shares s² / Σ s² are exact.
/// </summary>
public sealed class GradientProjectionMemoryTests
{
    private const int Width = 8;

    // Energy shares 0.5, 0.3, 0.15, 0.05: cumulative 0.5, 0.8, 0.95, 1.0.
    private static readonly double[] FirstShares = [0.5, 0.3, 0.15, 0.05];

    [Theory]
    [InlineData(0.45, false, 0)]
    [InlineData(0.45, true, 1)]
    [InlineData(0.79, false, 1)]
    [InlineData(0.79, true, 2)]
    [InlineData(0.9, false, 2)]
    [InlineData(0.9, true, 3)]
    [InlineData(0.97, false, 3)]
    [InlineData(0.97, true, 4)]
    public void First_task_rank_counts_the_cumulative_shares_below_the_threshold(double threshold, bool reach, int expected)
    {
        // Reference rule: the number of cumulative shares strictly below the threshold (0.9: 0.5 and 0.8 → 2);
        // ReachThresholdOnFirstTask keeps one more, the first direction that reaches it (0.9: → 3).
        using var scope = NewDisposeScope();
        manual_seed(7);
        var q = RandomOrthonormal(Width, 5);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [threshold], ReachThresholdOnFirstTask = reach });

        var ranks = memory.Update([KnownSpectrum(q, [0, 1, 2, 3], FirstShares, columns: 12)], 0);

        Assert.Equal([expected], ranks);
        Assert.Equal(expected == 0, memory.Basis(0) is null);
    }

    [Fact]
    public void First_task_basis_spans_the_leading_left_singular_vectors()
    {
        using var scope = NewDisposeScope();
        manual_seed(8);
        var q = RandomOrthonormal(Width, 5);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.9], ReachThresholdOnFirstTask = true });

        memory.Update([KnownSpectrum(q, [0, 1, 2, 3], FirstShares, columns: 12)], 0);

        var leading = q.narrow(1, 0, 3);
        Assert.True(Norm(Projector(memory.Basis(0)!) - Projector(leading)) < 1e-10);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(40)]
    public void A_representation_with_fewer_or_more_columns_than_rows_gets_the_same_bases(int columns)
    {
        // Wide matrices (convolution patches) go through the Gram matrix's eigendecomposition, tall ones through
        // the SVD: both must pick the same directions, first task and extension alike.
        using var scope = NewDisposeScope();
        manual_seed(9);
        var q = RandomOrthonormal(Width, 5);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.9], ReachThresholdOnFirstTask = true });

        Assert.Equal([3], memory.Update([KnownSpectrum(q, [0, 1, 2, 3], FirstShares, columns)], 0));
        Assert.True(Norm(Projector(memory.Basis(0)!) - Projector(q.narrow(1, 0, 3))) < 1e-10);
        Assert.Equal([4], memory.Update([KnownSpectrum(q, [3, 4], [0.95, 0.05], columns)], 1));
        Assert.True(Norm(Projector(memory.Basis(0)!) - Projector(q.narrow(1, 0, 4))) < 1e-10);
    }

    [Theory]
    [InlineData(0.5, 2)]
    [InlineData(0.8, 3)]
    [InlineData(0.9, 4)]
    [InlineData(0.97, 5)]
    public void Second_task_adds_residual_directions_until_the_explained_energy_reaches_the_threshold(double threshold, int expected)
    {
        // Basis span{q0, q1}. The new task's energy: 0.6 along q0 (already explained), then residual
        // directions q2, q3, q4 with shares 0.25, 0.1, 0.05. Explained: 0.6 → 0.85 → 0.95 → 1.0, adding
        // directions while it is below the threshold: 0.5 → none, 0.8 → q2, 0.9 → q2, q3, 0.97 → q2, q3, q4.
        using var scope = NewDisposeScope();
        manual_seed(9);
        var q = RandomOrthonormal(Width, 5);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [threshold] });
        memory.SetBasis(0, q.narrow(1, 0, 2));

        var ranks = memory.Update([KnownSpectrum(q, [0, 2, 3, 4], [0.6, 0.25, 0.1, 0.05], columns: 10)], 1);

        Assert.Equal([expected], ranks);
        var basis = memory.Basis(0)!;
        Assert.True(Norm(Projector(basis) - Projector(q.narrow(1, 0, expected))) < 1e-10, "the basis spans q0 .. q(rank-1)");
        Assert.True(Norm(basis.narrow(1, 0, 2) - q.narrow(1, 0, 2)) < 1e-12, "the stored columns are kept as they were");
    }

    [Fact]
    public void Threshold_increment_raises_later_tasks_thresholds()
    {
        // 0.5 + 0.3 x task 1 = 0.8: the same case as a second-task threshold of 0.8, one direction added.
        using var scope = NewDisposeScope();
        manual_seed(9);
        var q = RandomOrthonormal(Width, 5);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.5], ThresholdIncrement = 0.3 });
        memory.SetBasis(0, q.narrow(1, 0, 2));

        var ranks = memory.Update([KnownSpectrum(q, [0, 2, 3, 4], [0.6, 0.25, 0.1, 0.05], columns: 10)], 1);

        Assert.Equal([3], ranks);
    }

    [Fact]
    public void Bases_stay_orthonormal_and_within_the_layer_width_over_many_updates()
    {
        // Width 20, thirty tasks of random 20 x 40 float32 representations with a spread spectrum, and a
        // threshold that rises to the cap: the basis fills the space (rank 20 from task 20 on) and must stop
        // there. UᵀU − I stays within 1e-6 throughout (measured about 1e-14: float64 SVDs). A spread spectrum
        // may put 60% of the first task's energy in one direction, and the reference rule then keeps none
        // (rank 0, no basis yet): about half of all draws do, so the draws come from a generator of the test's own.
        using var scope = NewDisposeScope();
        using var generator = new Generator(10);
        const int width = 20;
        using var memory = new GradientProjectionMemory([width], new GpmOptions { Thresholds = [0.6], ThresholdIncrement = 0.02 });
        var ranks = new List<int>();
        for (int task = 0; task < 30; task++)
        {
            var scales = exp(randn([width, 1], generator: generator) * 1.5);
            var r = (randn([width, 40], generator: generator) * scales).to_type(ScalarType.Float32);
            int rank = memory.Update([r], task)[0];
            ranks.Add(rank);

            Assert.InRange(rank, 0, width);
            Assert.Equal(rank, memory.Basis(0) is { } basis ? (int)basis.shape[1] : 0);
            if (rank > 0)
            {
                Assert.True(OrthonormalityError(memory.Basis(0)!) < 1e-6, $"task {task}: UᵀU − I = {OrthonormalityError(memory.Basis(0)!):E2}");
            }
        }

        Assert.Equal(width, ranks[^1]);
        Assert.True(ranks.Zip(ranks.Skip(1)).All(p => p.Second >= p.First), $"ranks never shrink: {string.Join(",", ranks)}");
    }

    [Fact]
    public void A_full_basis_is_left_unchanged_by_further_tasks()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var memory = new GradientProjectionMemory([Width], new GpmOptions { Thresholds = [0.99] });
        var full = RandomOrthonormal(Width, Width);
        memory.SetBasis(0, full);

        var ranks = memory.Update([randn(Width, 30)], 3);

        Assert.Equal([Width], ranks);
        Assert.True(Norm(memory.Basis(0)! - full) == 0);
    }

    /// <summary>Σ_i sqrt(share_i) q_{dirs[i]} v_iᵀ, times 3 so the scale is not 1: energy shares exactly as given.</summary>
    private static Tensor KnownSpectrum(Tensor q, long[] directions, double[] shares, int columns)
    {
        var left = q.index_select(1, tensor(directions));
        var s = diag(tensor(shares.Select(x => 3 * Math.Sqrt(x)).ToArray(), dtype: ScalarType.Float64));
        var right = RandomOrthonormal(columns, shares.Length);
        return left.mm(s).mm(right.t());
    }
}
