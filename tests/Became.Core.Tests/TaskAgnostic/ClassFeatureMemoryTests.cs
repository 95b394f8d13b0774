using Became.Core.TaskAgnostic;
using static TorchSharp.torch;

namespace Became.Core.Tests.TaskAgnostic;

/// <summary>The class statistics behind answers without a task id, on features drawn here.</summary>
public sealed class ClassFeatureMemoryTests
{
    [Fact]
    public void Class_means_and_the_pooled_scatter_match_a_direct_computation()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var (x0, y0) = (randn(40, 5, dtype: float64), randint(0, 2, [40]));
        var (x1, y1) = (randn(30, 5, dtype: float64).add(2), randint(0, 3, [30]));
        using var memory = new ClassFeatureMemory();

        memory.AddTask(x0, y0, 2);
        memory.AddTask(x1, y1, 3);

        var state = memory.Export();
        var scatter = zeros(5, 5, dtype: float64);
        foreach (var (x, y, classes, t) in new[] { (x0, y0, 2, 0), (x1, y1, 3, 1) })
        {
            for (int c = 0; c < classes; c++)
            {
                var rows = x.index_select(0, y.eq(c).nonzero().squeeze(1));
                var mean = rows.mean([0]);
                Assert.True(state[$"classes.mean.{t}"][c].allclose(mean, atol: 1e-12), $"mean of task {t} class {c}");
                Assert.Equal(rows.shape[0], (long)state[$"classes.count.{t}"][c].item<double>());
                var centred = rows - mean;
                scatter += centred.t().matmul(centred);
            }
        }

        Assert.True(state["classes.scatter"].allclose(scatter, atol: 1e-9));
        Assert.Equal(70, memory.PooledSamples);
        Assert.Equal(new[] { 2, 3 }, memory.TaskClasses);
    }

    [Fact]
    public void Separated_classes_are_assigned_to_their_own_task()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out var probe, out var probeTasks);

        var tasks = memory.Discriminant(CPU).TaskProbabilities(probe).argmax(1);

        Assert.Equal(probeTasks.data<long>().ToArray(), tasks.data<long>().ToArray());
    }

    [Fact]
    public void Task_probabilities_are_a_distribution_over_the_tasks()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out var probe, out _);

        var p = memory.Discriminant(CPU).TaskProbabilities(probe);

        Assert.Equal([probe.shape[0], 2L], p.shape);
        Assert.True(p.sum(1).allclose(ones(probe.shape[0]), atol: 1e-5));
        Assert.True(p.ge(0).all().item<bool>());
    }

    [Fact]
    public void Exported_statistics_give_the_same_scores_when_imported()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out var probe, out _);
        using var copy = new ClassFeatureMemory();

        copy.Import(memory.Export());

        Assert.True(copy.Discriminant(CPU).ClassScores(probe).allclose(memory.Discriminant(CPU).ClassScores(probe), rtol: 0, atol: 0));
    }

    [Fact]
    public void A_state_without_statistics_imports_as_empty()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out _, out _);

        memory.Import(new Dictionary<string, Tensor>());

        Assert.Equal(0, memory.TaskCount);
        Assert.Equal(0, memory.FeatureDimension);
    }

    [Fact]
    public void A_mean_of_the_wrong_width_is_refused_with_its_name()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out _, out _);
        var state = memory.Export();
        state["classes.mean.1"] = zeros(2, 7, dtype: float64);
        using var copy = new ClassFeatureMemory();

        var error = Assert.Throws<InvalidDataException>(() => copy.Import(state));

        Assert.Contains("classes.mean.1", error.Message);
    }

    [Fact]
    public void A_task_without_samples_is_never_predicted()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var memory = new ClassFeatureMemory();
        memory.AddTask(zeros(0, 3), zeros(0, dtype: int64), 2);
        memory.AddTask(randn(20, 3), randint(0, 2, [20]), 2);

        var tasks = memory.Discriminant(CPU).TaskProbabilities(randn(50, 3).mul(5)).argmax(1);

        Assert.True(tasks.eq(1).all().item<bool>());
    }

    [Fact]
    public void Features_of_another_width_are_refused()
    {
        using var scope = NewDisposeScope();
        using var memory = TwoTasksOfSeparatedClasses(out _, out _);

        Assert.Throws<ArgumentException>(() => memory.AddTask(zeros(4, 3), zeros(4, dtype: int64), 2));
    }

    [Fact]
    public void Shrinkage_outside_the_unit_interval_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClassFeatureMemory(1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClassFeatureMemory(-0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClassFeatureMemory(double.NaN));
    }

    /// <summary>Task 0: classes around (±4, 0, ...); task 1: around (0, ±4, ...); unit noise in 4 dimensions.
    /// The probe holds 25 fresh draws of each class.</summary>
    private static ClassFeatureMemory TwoTasksOfSeparatedClasses(out Tensor probe, out Tensor probeTasks)
    {
        manual_seed(11);
        var centres = tensor(new float[,] { { 4, 0, 0, 0 }, { -4, 0, 0, 0 }, { 0, 4, 0, 0 }, { 0, -4, 0, 0 } });
        Tensor Draw(int perClass, int first) =>
            cat(Enumerable.Range(first, 2).Select(c => randn(perClass, 4) + centres[c]).ToArray(), 0);
        Tensor Labels(int perClass) => cat([zeros(perClass, dtype: int64), ones(perClass, dtype: int64)], 0);
        var memory = new ClassFeatureMemory();
        memory.AddTask(Draw(60, 0), Labels(60), 2);
        memory.AddTask(Draw(60, 2), Labels(60), 2);
        probe = cat([Draw(25, 0), Draw(25, 2)], 0);
        probeTasks = cat([zeros(50, dtype: int64), ones(50, dtype: int64)], 0);
        return memory;
    }

    [Theory]
    [InlineData("body", 0)]
    [InlineData("input", TaskFeatures.DefaultExpansion)]
    [InlineData("Input:500", 500)]
    public void Task_features_parse_from_their_names(string text, int width)
    {
        Assert.Equal(width, TaskFeatures.Parse(text).ExpansionWidth);
    }

    [Theory]
    [InlineData("pixels")]
    [InlineData("input:0")]
    [InlineData("input:-3")]
    [InlineData("input:99999")]
    public void Unknown_task_features_are_refused_naming_the_forms(string text)
    {
        var error = Assert.Throws<FormatException>(() => TaskFeatures.Parse(text));

        Assert.Contains("input:M", error.Message);
    }

    [Fact]
    public void An_input_expansion_comes_back_from_its_state_with_the_same_weights()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var memory = new ClassFeatureMemory(features: new TaskFeatures(64), expansionSeed: 42);
        var inputs = randn(30, 1, 4, 4);
        memory.AddTask(memory.StatisticsFeatures(inputs, inputs), randint(0, 2, [30]), 2);
        using var copy = new ClassFeatureMemory();

        copy.Import(memory.Export());

        Assert.Equal(64, copy.Features.ExpansionWidth);
        Assert.Equal(42, copy.ExpansionSeed);
        Assert.Equal(ClassFeatureMemory.DefaultExpansionShrinkage, copy.Shrinkage);
        Assert.True(copy.StatisticsFeatures(inputs, inputs).allclose(memory.StatisticsFeatures(inputs, inputs), rtol: 0, atol: 0));
        Assert.True(copy.Discriminant(CPU).ClassScores(copy.StatisticsFeatures(inputs, inputs)).allclose(memory.Discriminant(CPU).ClassScores(memory.StatisticsFeatures(inputs, inputs)), rtol: 0, atol: 0));
    }

    [Fact]
    public void An_expansion_that_does_not_fit_the_scatter_is_refused()
    {
        using var scope = NewDisposeScope();
        using var memory = new ClassFeatureMemory(features: new TaskFeatures(16), expansionSeed: 1);
        var inputs = randn(10, 8);
        memory.AddTask(memory.StatisticsFeatures(inputs, inputs), randint(0, 2, [10]), 2);
        var state = memory.Export();
        state["classes.expansion"] = tensor(new long[] { 32, 1 });
        using var copy = new ClassFeatureMemory();

        var error = Assert.Throws<InvalidDataException>(() => copy.Import(state));

        Assert.Contains("classes.expansion", error.Message);
    }
}
