using Became.Core.Data;
using Became.Core.Merging;
using Became.Core.Models;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

public sealed class DivergenceTests
{
    private static ContinualTask RandomTask()
    {
        manual_seed(3);
        var train = new LabelledSet(randn(200, 16).DetachFromDisposeScope(), randint(0, 3, [200]).DetachFromDisposeScope());
        var validation = new LabelledSet(randn(20, 16).DetachFromDisposeScope(), randint(0, 3, [20]).DetachFromDisposeScope());
        var test = new LabelledSet(randn(20, 16).DetachFromDisposeScope(), randint(0, 3, [20]).DetachFromDisposeScope());
        return new ContinualTask(0, "random", 3, train, validation, test);
    }

    private static StageResult TrainAt(double lr, bool keepBest)
    {
        using var task = RandomTask();
        using var network = new MultiHeadMlp(16, [12]);
        int head = network.AddHead(3);
        using var generator = new Generator(1);
        var trainer = new StageTrainer(new TrainingOptions { Epochs = 3, LearningRate = lr });
        return trainer.Train(network, task, head, network.Parameters, null, keepBest, generator, 1, null, CancellationToken.None);
    }

    [Fact]
    public void Stage_that_diverges_stops_early_and_says_so()
    {
        var result = TrainAt(1e12, keepBest: false);

        Assert.True(result.Diverged);
        Assert.Equal(1, result.Epochs);
    }

    [Fact]
    public void Stage_that_must_keep_its_best_weights_but_never_had_finite_ones_throws()
    {
        Assert.Throws<TrainingDivergedException>(() => TrainAt(1e12, keepBest: true));
    }

    [Fact]
    public void Stage_at_a_sane_learning_rate_does_not_diverge()
    {
        Assert.False(TrainAt(0.01, keepBest: true).Diverged);
    }

    [Fact]
    public void Merge_coefficient_refuses_non_finite_weights()
    {
        using var scope = NewDisposeScope();
        var stable = new Dictionary<string, Tensor> { ["w"] = zeros(3) };
        var plastic = new Dictionary<string, Tensor> { ["w"] = tensor(new float[] { 1, float.NaN, 1 }) };
        var fisher = new Dictionary<string, Tensor> { ["w"] = ones(3) };

        Assert.Throws<ArgumentException>(() => AdaptiveMerge.Coefficient(stable, plastic, fisher, fisher));
    }
}
