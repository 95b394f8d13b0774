using System.Diagnostics;
using Became.Core.Data;
using Became.Core.Evaluation;
using Became.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Became.Core.Training;

/// <summary>Progress of one training epoch.</summary>
/// <param name="Task">Task index.</param>
/// <param name="Stage">1 = stable (projected), 2 = plastic.</param>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss of the epoch.</param>
/// <param name="ValidationLoss">Validation loss after the epoch.</param>
/// <param name="ValidationAccuracy">Validation accuracy (percent) after the epoch.</param>
/// <param name="LearningRate">Learning rate used in the epoch.</param>
public sealed record EpochProgress(int Task, int Stage, int Epoch, double TrainLoss, double ValidationLoss, double ValidationAccuracy, double LearningRate);

/// <summary>What a stage did.</summary>
/// <param name="Epochs">Epochs run.</param>
/// <param name="Samples">Training samples processed.</param>
/// <param name="TrainingSeconds">Seconds spent in training steps (excluding validation).</param>
/// <param name="BestValidationLoss">Lowest validation loss seen.</param>
/// <param name="Diverged">The training loss became NaN or infinite and the stage stopped early.</param>
public sealed record StageResult(int Epochs, long Samples, double TrainingSeconds, double BestValidationLoss, bool Diverged = false)
{
    public double SamplesPerSecond => TrainingSeconds > 0 ? Samples / TrainingSeconds : 0;
}

/// <summary>One training stage: SGD epochs over a task with the patience schedule, with a hook after each backward pass.</summary>
public sealed class StageTrainer
{
    private readonly TrainingOptions _options;

    public StageTrainer(TrainingOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>Trains <paramref name="trainable"/> on the task's head. With <paramref name="keepBest"/> the weights
    /// with the lowest validation loss are restored at the end; otherwise the last ones stay.</summary>
    public StageResult Train(
        IContinualNetwork network,
        ContinualTask task,
        int head,
        IReadOnlyList<NamedParameter> trainable,
        Action? afterBackward,
        bool keepBest,
        Generator generator,
        int stage,
        IProgress<EpochProgress>? progress,
        CancellationToken cancellationToken)
    {
        var train = task.Train;
        if (train.Count == 0)
        {
            throw new ArgumentException($"Task {task.Index} has no training samples.");
        }

        var tensors = trainable.Select(p => p.Tensor).ToArray();
        // The best weights come back with the running statistics of their epoch (a state dict holds both): weights
        // paired with later epochs' statistics are a model no epoch produced.
        var kept = trainable.Concat(network.Buffers).ToList();
        double lr = _options.LearningRate;
        int patience = _options.Patience;
        double bestLoss = double.PositiveInfinity;
        ParameterSnapshot? best = null;
        long samples = 0;
        var clock = new Stopwatch();
        int epoch = 0;
        bool diverged = false;
        try
        {
            while (epoch < _options.Epochs)
            {
                epoch++;
                clock.Start();
                double trainLoss = RunEpoch(network, train, head, tensors, afterBackward, lr, generator, cancellationToken);
                clock.Stop();
                samples += train.Count;
                if (!double.IsFinite(trainLoss))
                {
                    diverged = true;
                    break;
                }

                var (valLoss, valAcc) = Validate(network, task.Validation.Count > 0 ? task.Validation : train, head);
                progress?.Report(new EpochProgress(task.Index, stage, epoch, trainLoss, valLoss, valAcc, lr));
                if (valLoss < bestLoss)
                {
                    bestLoss = valLoss;
                    if (keepBest)
                    {
                        best?.Dispose();
                        best = ParameterSnapshot.Take(kept);
                    }

                    patience = _options.Patience;
                }
                else if (--patience <= 0)
                {
                    lr /= _options.LearningRateFactor;
                    if (lr < _options.MinLearningRate)
                    {
                        break;
                    }

                    patience = _options.Patience;
                }
            }

            if (diverged && keepBest && best is null)
            {
                throw new TrainingDivergedException(
                    $"Task {task.Index}, stage {stage}: the training loss became non-finite in epoch {epoch} at learning rate {lr}; no finite weights to keep.");
            }

            best?.Restore(kept);
        }
        finally
        {
            best?.Dispose();
        }

        return new StageResult(epoch, samples, clock.Elapsed.TotalSeconds, bestLoss, diverged);
    }

    /// <summary>The validation pass, with the steps' thread count: a validation split is a few hundred samples, and
    /// OpenMP's barrier waits cost more than a second thread saves (on a loaded machine, many times more).</summary>
    private (double Loss, double Accuracy) Validate(IContinualNetwork network, LabelledSet validation, int head)
    {
        int processThreads = get_num_threads();
        set_num_threads(_options.ResolveStepThreads(processThreads));
        try
        {
            return Evaluator.LossAndAccuracy(network, validation, head);
        }
        finally
        {
            set_num_threads(processThreads);
        }
    }

    private double RunEpoch(IContinualNetwork network, LabelledSet train, int head, Tensor[] tensors, Action? afterBackward, double lr, Generator generator, CancellationToken cancellationToken)
    {
        int n = train.Count;
        int batch = _options.BatchSize;
        int processThreads = get_num_threads();
        set_num_threads(_options.ResolveStepThreads(processThreads));
        network.Training = true;
        try
        {
            return RunSteps(network, train, head, tensors, afterBackward, lr, generator, n, batch, processThreads > 1, cancellationToken);
        }
        finally
        {
            // Validation, Fisher, representations and inference all run without dropout.
            network.Training = false;
            set_num_threads(processThreads);
        }
    }

    private static double RunSteps(IContinualNetwork network, LabelledSet train, int head, Tensor[] tensors, Action? afterBackward, double lr, Generator generator, int n, int batch, bool prefetch, CancellationToken cancellationToken)
    {
        // The generator is a CPU one (same permutation on every device); the data may live elsewhere.
        using var cpuOrder = randperm(n, generator: generator);
        using var order = cpuOrder.to(train.Inputs.device);

        // Each batch is gathered by its indices. A shuffled copy of the whole set per epoch (36 MB on split-fmnist)
        // is a fresh mmap every epoch, and its page faults cost more than the epoch's SGD steps (perf: 28% of a run).
        var rows = new EpochRows(train, order);
        using var lossTotal = zeros(1, dtype: ScalarType.Float64, device: train.Inputs.device);
        if (afterBackward is null && network is IFusedSgdStep fused && fused.CanFuse(tensors, head))
        {
            RunFusedSteps(fused, network.InputProjector, rows, head, lr, lossTotal, BatchRanges.Of(n, batch, network.MinimumBatch).ToList(), prefetch, cancellationToken);
            return lossTotal.item<double>() / n;
        }

        foreach (var (start, size) in BatchRanges.Of(n, batch, network.MinimumBatch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var (x, y) = rows.Batch(start, size);
            var logits = network.Forward(x, head);
            var loss = F.cross_entropy(logits, y);
            loss.backward();
            afterBackward?.Invoke();
            using (no_grad())
            {
                lossTotal.add_(loss.detach(), alpha: size);
                foreach (var p in tensors)
                {
                    var grad = p.grad;
                    if (grad is null)
                    {
                        continue;
                    }

                    p.add_(grad, alpha: -lr);
                    grad.zero_();
                }
            }
        }

        return lossTotal.item<double>() / n;
    }

    /// <summary>
    /// The epoch's steps through <see cref="IFusedSgdStep"/>. The first layer's projected inputs x P depend only on
    /// the data and the task's fixed basis, so they are computed a chunk of <see cref="ChunkBatches"/> batches at
    /// once (one GEMM instead of many skinny ones), ahead of the steps on a second thread when
    /// <paramref name="prefetch"/> (the process has a second core to spare).
    /// </summary>
    private static void RunFusedSteps(IFusedSgdStep fused, ILayerInputProjection? projector, EpochRows rows, int head, double lr, Tensor lossTotal, List<(int Start, int Size)> ranges, bool prefetch, CancellationToken cancellationToken)
    {
        var chunks = ranges.Chunk(ChunkBatches).Select(c => (c[0].Start, c[^1].Start + c[^1].Size - c[0].Start)).ToList();
        using var projected = projector is null ? null : new ProjectedInputChunks(projector, rows, chunks, prefetch);
        int range = 0;
        for (int c = 0; c < chunks.Count; c++)
        {
            var (chunkStart, chunkLength) = chunks[c];
            var chunkInputs = projected?.Take(c);
            for (; range < ranges.Count && ranges[range].Start < chunkStart + chunkLength; range++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (start, size) = ranges[range];
                var (x, y) = rows.Batch(start, size);
                using var batchInputs = x;
                using var batchLabels = y;
                using var px = chunkInputs?.narrow(0, start - chunkStart, size);
                fused.SgdStep(x, px, y, head, lr, lossTotal);
            }

            projected?.Release(c);
        }
    }

    /// <summary>Batches per chunk of first-layer inputs projected at once. On 784 inputs a chunk is 1.25 MB, above the
    /// agent's 1 MiB mmap threshold, so chunks go back to the system when freed: 20-batch chunks (627 KB) came from
    /// the C heap and left the agent 20–50 MiB larger after a job.</summary>
    private const int ChunkBatches = 40;
}

/// <summary>Training produced non-finite losses and no usable weights (e.g. a learning rate far too high).</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
