using Became.Core.Data;
using Became.Core.Models;
using Became.Core.Training;
using static TorchSharp.torch;

namespace Became.Core.Tests.Algorithm;

/// <summary>What a stage that keeps its best epoch gives back.</summary>
public sealed class KeepBestTests
{
    [Fact]
    public void The_best_epoch_comes_back_with_its_running_statistics()
    {
        // Validation labels are the training labels flipped, so each epoch of fitting raises the validation loss:
        // the first epoch is the best, and after three the network must hold the first epoch's weights and
        // batch-norm running statistics, as a one-epoch stage leaves them.
        using var scope = NewDisposeScope();
        var afterOne = Buffers(TrainPreAct(epochs: 1), out var weightsAfterOne);
        var afterThree = Buffers(TrainPreAct(epochs: 3), out var weightsAfterThree);

        Assert.Equal(weightsAfterOne.Keys, weightsAfterThree.Keys);
        foreach (var (name, value) in weightsAfterOne)
        {
            Assert.True(value.allclose(weightsAfterThree[name], rtol: 0, atol: 1e-6), name);
        }

        Assert.NotEmpty(afterOne);
        foreach (var (name, value) in afterOne)
        {
            Assert.True(value.allclose(afterThree[name], rtol: 0, atol: 1e-6), name);
        }
    }

    private static Dictionary<string, Tensor> Buffers(IContinualNetwork network, out Dictionary<string, Tensor> weights)
    {
        using (network)
        {
            weights = network.Parameters.ToDictionary(p => p.Name, p => p.Tensor.detach().clone());
            return network.Buffers.Where(b => b.Tensor.is_floating_point()).ToDictionary(b => b.Name, b => b.Tensor.clone());
        }
    }

    private static IContinualNetwork TrainPreAct(int epochs)
    {
        manual_seed(5);
        var x = randn(96, 1, 12, 12);
        var y = x.mean([1, 2, 3]).gt(0).to_type(ScalarType.Int64);
        using var task = new ContinualTask(0, "mean sign", 2, new LabelledSet(x, y), new LabelledSet(x, y.neg().add(1)), new LabelledSet(x, y));
        var network = ModelSpec.Parse("preact-resnet18:0.125").Create([1, 12, 12], CPU, seed: 2);
        int head = network.AddHead(2);
        using var generator = new Generator(1);
        var trainer = new StageTrainer(new TrainingOptions { Epochs = epochs, BatchSize = 32, LearningRate = 0.05, StepThreads = 1 });
        trainer.Train(network, task, head, network.Parameters, null, keepBest: true, generator, 1, null, CancellationToken.None);
        return network;
    }
}
