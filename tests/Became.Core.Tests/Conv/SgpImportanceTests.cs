using Became.Core.Projection;
using Became.Core.Tests.Data;
using static TorchSharp.torch;

namespace Became.Core.Tests.Conv;

/// <summary>
/// SGP's importances from real representations: the raw pixels (784 x 300) of split-fmnist tasks 0, 1 and 2
/// as one layer's representation matrices, thresholds 0.97 + 0.003 t, scale 10.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class SgpImportanceTests(FashionMnistFixture data)
{
    private const int Samples = 300;

    [Fact]
    public void Sgp_importances_lie_in_zero_one_after_every_task()
    {
        using var scope = NewDisposeScope();
        using var memory = Memory(ProjectionKind.Sgp);

        for (int task = 0; task < 3; task++)
        {
            memory.Update([Representation(task)], task);
            var importance = memory.Importance(0)!;
            Assert.Equal(memory.Ranks[0], importance.shape[0]);
            Assert.True(importance.min().item<double>() > 0, $"task {task}: smallest importance {importance.min().item<double>()}");
            Assert.True(importance.max().item<double>() <= 1, $"task {task}: largest importance {importance.max().item<double>()}");
        }
    }

    [Fact]
    public void Sgp_first_task_fully_protects_only_the_strongest_direction()
    {
        using var scope = NewDisposeScope();
        using var memory = Memory(ProjectionKind.Sgp);

        memory.Update([Representation(0)], 0);

        var importance = memory.Importance(0)!.data<double>().ToArray();
        Assert.Equal(1.0, importance[0], 12);
        Assert.True(importance[^1] < 0.5, $"weakest kept direction has importance {importance[^1]:F3}");
        Assert.True(importance.Zip(importance.Skip(1), (a, b) => a >= b).All(x => x), "importances follow the singular values");
    }

    [Fact]
    public void Sgp_importance_of_an_old_direction_never_falls_when_a_new_task_reuses_it()
    {
        using var scope = NewDisposeScope();
        using var memory = Memory(ProjectionKind.Sgp);
        memory.Update([Representation(0)], 0);
        var before = memory.Importance(0)!.clone();

        memory.Update([Representation(1)], 1);

        var after = memory.Importance(0)!.narrow(0, 0, before.shape[0]);
        Assert.True((after - before).min().item<double>() >= 0, "an old direction lost importance");
        Assert.True((after - before).max().item<double>() > 0.01, "task 1 re-uses none of task 0's directions");
    }

    [Fact]
    public void Sgp_grows_the_same_bases_as_gpm()
    {
        using var scope = NewDisposeScope();
        using var gpm = Memory(ProjectionKind.Gpm);
        using var sgp = Memory(ProjectionKind.Sgp);

        for (int task = 0; task < 3; task++)
        {
            var r = Representation(task);
            gpm.Update([r], task);
            sgp.Update([r], task);
        }

        Assert.Equal(gpm.Ranks, sgp.Ranks);
        Assert.Equal(0.0, (gpm.Basis(0)! - sgp.Basis(0)!).abs().max().item<double>());
        Assert.Null(gpm.Importance(0));
    }

    [Fact]
    public void Sgp_importance_formula_matches_the_paper()
    {
        // lambda = (s+1)σ / (sσ + max σ) with s = 10: σ = (4, 2, 1) gives 1, 22/24, 11/14.
        using var scope = NewDisposeScope();
        var lambda = ScaledGradientProjection.Importance(tensor(new[] { 4.0, 2.0, 1.0 }), 10).data<double>().ToArray();

        double[] expected = [1.0, 22.0 / 24.0, 11.0 / 14.0];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], lambda[i], 12);
        }
    }

    private static GradientProjectionMemory Memory(ProjectionKind kind) =>
        new([784], new GpmOptions { Thresholds = [0.97], ThresholdIncrement = 0.003, Projection = kind });

    private Tensor Representation(int task) => data.Split.Tasks[task].Train.Inputs.narrow(0, 0, Samples).t();
}
